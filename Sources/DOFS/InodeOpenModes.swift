/// How the open files of each inode are served, once FUSE passthrough is on.
///
/// A file opened with a backing id is read by the kernel from that backing file (a whole copy of the
/// content, see `WholeCopies`); other opens are served by dofs. The kernel refuses to mix the two on
/// one inode, and one backing id serves all of an inode's opens, so the mode the inode's first open
/// chose holds until its last release, which closes the backing id.
struct InodeOpenModes {
    private enum Mode {
        case served(opens: Int)
        case passthrough(backingId: Int32, opens: Int)
    }

    private var modes: [UInt64: Mode] = [:]

    /// Records an open of `ino` and returns its backing id, or 0 when dofs serves it. `backing` is
    /// asked for a backing id (registered with the kernel; 0 or less when there is none) only by the
    /// first of the inode's open files.
    mutating func open(_ ino: UInt64, backing: () -> Int32) -> Int32 {
        switch modes[ino] {
        case .served(let opens)?:
            modes[ino] = .served(opens: opens + 1)
            return 0
        case .passthrough(let id, let opens)?:
            modes[ino] = .passthrough(backingId: id, opens: opens + 1)
            return id
        case nil:
            let id = backing()
            modes[ino] = id > 0 ? .passthrough(backingId: id, opens: 1) : .served(opens: 1)
            return max(id, 0)
        }
    }

    /// Records a release of `ino`: whether dofs served that open, and the backing id to close when it
    /// was the inode's last open file.
    mutating func release(_ ino: UInt64) -> (served: Bool, closeBacking: Int32?) {
        switch modes[ino] {
        case .served(let opens)?:
            modes[ino] = opens > 1 ? .served(opens: opens - 1) : nil
            return (true, nil)
        case .passthrough(let id, let opens)?:
            modes[ino] = opens > 1 ? .passthrough(backingId: id, opens: opens - 1) : nil
            return (false, opens > 1 ? nil : id)
        case nil:
            return (true, nil)
        }
    }
}
