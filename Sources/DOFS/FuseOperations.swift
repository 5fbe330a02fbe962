/// The C side of the mount: libfuse low-level callbacks. Each one only converts its arguments and
/// hands over to `FuseFilesystem`; no logic lives here.
import CFuse3
import Foundation

private func filesystem(_ req: fuse_req_t?) -> FuseFilesystem {
    Unmanaged<FuseFilesystem>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue()
}

/// `fuse_file_info` copied out of a callback, so that an asynchronous `fuse_reply_open` can use it
/// after libfuse's own copy (on the worker's stack) is gone.
private struct FileInfo: @unchecked Sendable {
    var value: fuse_file_info
}

private func dofsInit(_ userdata: UnsafeMutableRawPointer?, _ conn: UnsafeMutablePointer<fuse_conn_info>?) {
    guard let conn else { return }
    // Let replies from piece files move page-cache pages to the kernel instead of copying them.
    let splice = UInt32(FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE)
    conn.pointee.want |= conn.pointee.capable & splice
    // Every listing carries the attributes (not only the first of a folder, as "auto" would): names
    // listed then need no LOOKUP when they are opened or stat'ed.
    conn.pointee.want |= conn.pointee.capable & UInt32(FUSE_CAP_READDIRPLUS)
    conn.pointee.want &= ~UInt32(FUSE_CAP_READDIRPLUS_AUTO)
    guard let userdata else { return }
    let filesystem = Unmanaged<FuseFilesystem>.fromOpaque(userdata).takeUnretainedValue()
    // Reads of complete contents go from the kernel to their whole copies, when both sides can.
    filesystem.connected(passthrough: filesystem.wantsPassthrough && cfuse_want_passthrough(conn) != 0)
}

private func dofsLookup(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: UnsafePointer<CChar>?) {
    FuseMetrics.count(.lookup)
    filesystem(req).lookup(Request(raw: req), parent: UInt64(parent), name: String(cString: name!))
}

private func dofsGetattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    FuseMetrics.count(.getattr)
    filesystem(req).getattr(Request(raw: req), ino: UInt64(ino))
}

private func dofsReaddir(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int, _ off: off_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    FuseMetrics.count(.readdir)
    filesystem(req).readdir(Request(raw: req), ino: UInt64(ino), size: size, offset: Int(off), plus: false)
}

private func dofsReaddirplus(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int, _ off: off_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    FuseMetrics.count(.readdirplus)
    filesystem(req).readdir(Request(raw: req), ino: UInt64(ino), size: size, offset: Int(off), plus: true)
}

private func dofsOpen(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    FuseMetrics.count(.open)
    let info = FileInfo(value: fi!.pointee)
    let request = Request(raw: req)
    filesystem(req).open(request, ino: UInt64(ino), flags: info.value.flags) { fh, backingId in
        var reply = info
        reply.value.fh = fh
        if backingId > 0 {
            // The kernel refuses any other open flag beside passthrough (keep_cache among them): EIO.
            cfuse_set_backing_id(&reply.value, backingId)
        } else {
            // Content under a name never changes, so page-cache contents stay valid across opens.
            cfuse_set_cache_flags(&reply.value, 1)
        }
        _ = fuse_reply_open(request.raw, &reply.value)
    }
}

private func dofsRead(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int, _ off: off_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    FuseMetrics.count(.read)
    filesystem(req).read(Request(raw: req), ino: UInt64(ino), fh: fi!.pointee.fh, size: size, offset: Int(off))
}

private func dofsRelease(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    FuseMetrics.count(.release)
    filesystem(req).release(Request(raw: req), fh: fi!.pointee.fh)
}

private func dofsGetxattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ name: UnsafePointer<CChar>?, _ size: Int) {
    FuseMetrics.count(.getxattr)
    filesystem(req).getxattr(Request(raw: req), ino: UInt64(ino), name: String(cString: name!), size: size)
}

private func dofsListxattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int) {
    FuseMetrics.count(.listxattr)
    filesystem(req).listxattr(Request(raw: req), ino: UInt64(ino), size: size)
}

enum FuseOperations {
    static func table() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = dofsInit
        ops.lookup = dofsLookup
        ops.getattr = dofsGetattr
        ops.readdir = dofsReaddir
        ops.readdirplus = dofsReaddirplus
        ops.open = dofsOpen
        ops.read = dofsRead
        ops.release = dofsRelease
        ops.getxattr = dofsGetxattr
        ops.listxattr = dofsListxattr
        return ops
    }
}
