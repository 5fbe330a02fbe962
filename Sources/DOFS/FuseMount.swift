/// Mounting and serving: the libfuse session's life from `fuse_session_new` to unmount.
import CFuse3
import Foundation
import Logging
import Synchronization

public struct FuseMountOptions: Sendable {
    public var mountpoint: String
    /// Let other users read the mount (needs `user_allow_other` in /etc/fuse.conf for non-root).
    public var allowOther = false
    /// FUSE worker threads. Reads that wait on the network do not hold one, so a few suffice.
    public var maxThreads = 8
    /// Kernel readahead for the mount, in KiB. The kernel's 128 KiB default caps a sequential reader
    /// at one small request at a time; 4 MiB keeps several 1 MiB reads in flight (measured in the
    /// swift-interop notes: 0.35–0.76 GB/s at 128 KiB, 1.5 GB/s at 1 MiB). 0 leaves the kernel default.
    public var kernelReadaheadKB = 4096
    /// Let libfuse end this session on SIGINT/SIGTERM/SIGHUP. Its handlers serve one session per
    /// process, so a node with several mounts handles the signals itself and turns this off.
    public var installSignalHandlers = true
    /// What the mount table shows as the mount's source (`fsname`): the catalog, or "dofs".
    public var sourceName = "dofs"

    public init(mountpoint: String) { self.mountpoint = mountpoint }
}

public enum FuseMountError: Error, CustomStringConvertible {
    case sessionFailed
    case mountFailed(String)

    public var description: String {
        switch self {
        case .sessionFailed: return "libfuse could not create a session (see the message above)"
        case .mountFailed(let m): return "cannot mount on \(m): is it an existing, empty folder, and is /dev/fuse usable?"
        }
    }
}

public enum FuseMount {
    /// Mounts `filesystem`, calls `onReady` once the mount answers, and serves until it is unmounted
    /// (`fusermount3 -u`) or the process gets SIGINT/SIGTERM/SIGHUP. Returns whether `onReady` was
    /// called: `false` when the mount was unmounted before it answered (before the kernel's INIT).
    @discardableResult
    public static func run(_ filesystem: FuseFilesystem, options: FuseMountOptions, logger: Logger,
                           onReady: @escaping @Sendable () -> Void) throws -> Bool {
        // libfuse splits options at commas; a backslash escapes one inside a value.
        let source = options.sourceName.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ",", with: "\\,")
        var mountOptions = "ro,fsname=\(source),subtype=dofs,default_permissions"
        if options.allowOther { mountOptions += ",allow_other" }
        let argv: [UnsafeMutablePointer<CChar>] = ["dofs", "-o", mountOptions].map { (s: String) in strdup(s)! }
        defer { argv.forEach { free($0) } }
        var cArgv = argv.map { Optional($0) }
        let context = Unmanaged.passRetained(filesystem)
        defer { context.release() }

        var ops = FuseOperations.table()
        let session: OpaquePointer? = cArgv.withUnsafeMutableBufferPointer { buf in
            var args = fuse_args(argc: Int32(buf.count), argv: buf.baseAddress, allocated: 0)
            return cfuse_session_new(&args, &ops, MemoryLayout<fuse_lowlevel_ops>.size, context.toOpaque())
        }
        guard let session else { throw FuseMountError.sessionFailed }
        defer { fuse_session_destroy(session) }
        if options.installSignalHandlers {
            guard fuse_set_signal_handlers(session) == 0 else { throw FuseMountError.sessionFailed }
        }
        defer { if options.installSignalHandlers { fuse_remove_signal_handlers(session) } }
        // The mount table names the mount point as the kernel resolved it; resolved here, before the
        // mount, since a lookup through the mount afterwards would hold it busy (see below).
        let canonical = realpath(options.mountpoint, nil).map { path in defer { free(path) }; return String(cString: path) }
        guard fuse_session_mount(session, options.mountpoint) == 0 else {
            throw FuseMountError.mountFailed(options.mountpoint)
        }
        defer { fuse_session_unmount(session) }

        PipeCapacity.ensureSpliceFits(readBytes: 1 << 20, logger: logger)
        // The mount answers only once the loop below has handled the kernel's INIT; a helper thread
        // waits for that, then tunes readahead and reports readiness. It never touches the mount
        // itself: a `stat` of the mountpoint in flight holds the mount busy, and an unmount at that
        // moment (a script that mounts and unmounts at once) failed with EBUSY.
        let mountpoint = options.mountpoint, readahead = options.kernelReadaheadKB
        let tablePath = canonical ?? mountpoint
        // Whether the loop has ended, and whether readiness was reported: one or the other comes first,
        // and readiness is reported whole (under the lock) before `run` returns.
        let phase = Mutex<(ended: Bool, answered: Bool)>((false, false))
        let readiness = Thread {
            guard filesystem.kernelConnected.wait(timeout: .now() + 60) == .success else {
                logger.error("mount on \(mountpoint) does not answer: no INIT from the kernel in 60 s")
                return
            }
            phase.withLock { p in
                guard !p.ended else { return }
                p.answered = true
                if readahead > 0 {
                    if let device = MountInfo.device(of: tablePath) {
                        KernelReadahead.set(device: device, kilobytes: readahead, logger: logger)
                    } else {
                        logger.info("\(mountpoint) is not in /proc/self/mountinfo; kernel readahead left as it is")
                    }
                }
                logger.notice("mounted on \(mountpoint)")
                onReady()
            }
        }
        readiness.start()

        let loopConfig = fuse_loop_cfg_create()
        defer { fuse_loop_cfg_destroy(loopConfig) }
        fuse_loop_cfg_set_max_threads(loopConfig, UInt32(options.maxThreads))
        fuse_loop_cfg_set_clone_fd(loopConfig, 0)
        filesystem.pageCache.attach(session)
        let rc = fuse_session_loop_mt(session, loopConfig)
        filesystem.pageCache.detach()
        logger.notice("unmounting \(mountpoint) (loop ended with \(rc))")
        let answered = phase.withLock { p in
            p.ended = true
            return p.answered
        }
        filesystem.kernelConnected.signal()  // a helper still waiting for INIT ends now
        return answered
    }
}

/// The per-mount readahead knob in sysfs (`/sys/class/bdi/MAJOR:MINOR/read_ahead_kb`).
enum KernelReadahead {
    static func set(device: String, kilobytes: Int, logger: Logger) {
        let path = "/sys/class/bdi/\(device)/read_ahead_kb"
        do {
            try "\(kilobytes)\n".write(toFile: path, atomically: false, encoding: .utf8)
        } catch {
            logger.info("cannot raise kernel readahead via \(path) (\(error.localizedDescription)); sequential reads will be slower")
        }
    }
}

/// Zero-copy replies need a pipe that holds a whole reply: libfuse splices a piece file's pages into a
/// pipe, and falls back to malloc + pread + write when the pipe cannot grow to the reply's size
/// (1 MiB of data plus headers). Linux caps pipes at /proc/sys/fs/pipe-max-size (1 MiB by default)
/// for processes without CAP_SYS_RESOURCE, so the default is a few KiB short. Measured here: warm
/// reads went from ~0.8 to ~1.7 GB/s once splicing worked. The limit is only ever raised.
enum PipeCapacity {
    static let path = "/proc/sys/fs/pipe-max-size"

    static func ensureSpliceFits(readBytes: Int, logger: Logger) {
        let wanted = readBytes * 2
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let current = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), current < wanted else { return }
        do {
            try "\(wanted)\n".write(toFile: path, atomically: false, encoding: .utf8)
            logger.info("raised \(path) from \(current) to \(wanted) so cached reads can be spliced")
        } catch {
            logger.info("cannot raise \(path) (\(current)); cached reads will be copied instead of spliced")
        }
    }
}
