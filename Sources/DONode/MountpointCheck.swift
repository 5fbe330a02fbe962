import DOFS
import Foundation

/// Refuses mount points a mount would hide or fail on, with what to do instead: not a folder, not
/// empty (unless allowed, as rclone's --allow-non-empty), already a live mount, or a dead FUSE mount
/// (its process is gone: "Transport endpoint is not connected").
public enum MountpointCheck {
    public static func refuseUnusable(_ mountpoint: String, allowNonEmpty: Bool) throws(NodeError) {
        var st = stat()
        if stat(mountpoint, &st) != 0 {
            let e = errno
            if e == ENOTCONN {
                throw .mountpoint("\(mountpoint) is a dead FUSE mount (its process is gone); clear it with `fusermount3 -uz \(mountpoint)`")
            }
            throw .mountpoint("mount point \(mountpoint): \(String(cString: strerror(e)))")
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw .mountpoint("mount point \(mountpoint) is not a folder") }
        if isMountPoint(mountpoint) {
            // stat may be answered from the kernel's attribute cache; statvfs always asks the filesystem.
            var fs = statvfs()
            if statvfs(mountpoint, &fs) != 0, errno == ENOTCONN {
                throw .mountpoint("\(mountpoint) is a dead FUSE mount (its process is gone); clear it with `fusermount3 -uz \(mountpoint)`")
            }
            throw .mountpoint("\(mountpoint) is already a mount point; unmount it first (`dofs unmount` or `fusermount3 -u`)")
        }
        if !allowNonEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: mountpoint), !entries.isEmpty {
            throw .mountpoint("mount point \(mountpoint) is not empty (\(entries.count) entries would be hidden); use an empty folder, or --allow-non-empty")
        }
    }

    /// True when the mount table lists `path` (its symlinks resolved) as a mount point.
    static func isMountPoint(_ path: String) -> Bool {
        MountInfo.isMountPoint((path as NSString).resolvingSymlinksInPath)
    }
}
