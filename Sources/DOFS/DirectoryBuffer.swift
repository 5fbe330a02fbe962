import CFuse3

/// Packs directory entries into the kernel's format, starting at `offset` (the index of the first
/// entry not yet returned) and stopping when `maxBytes` is full.
///
/// With `plus` (READDIRPLUS) an entry whose attributes are known carries them, so the kernel learns
/// the name and the attributes in the listing and a later `open` or `stat` of it needs no LOOKUP: one
/// round trip fewer per file for `cat dir/*` of small files. An entry without attributes (a content
/// whose size is known only once it is opened) is listed by name, and looked up as before.
enum DirectoryBuffer {
    struct Entry {
        let name: String
        let ino: UInt64
        let isDirectory: Bool
        /// The attributes and how long the kernel may keep them; `nil`: looked up when used.
        var attributes: (stat, timeout: Double)?
    }

    /// `entry(i)` gives entry `i` of `count`; only the entries that fit are asked for, so a call costs
    /// what it returns, not the size of the folder.
    static func encode(count: Int, entry: (Int) -> Entry, from offset: Int, maxBytes: Int, plus: Bool,
                       request: Request) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: maxBytes)
        var used = 0
        var index = max(0, offset)
        while index < count {
            let item = entry(index)
            let needed = buffer.withUnsafeMutableBytes { b in
                let at = b.baseAddress!.advanced(by: used).assumingMemoryBound(to: CChar.self)
                return plus ? addPlus(item, request, at, maxBytes - used, off_t(index + 1))
                            : addPlain(item, request, at, maxBytes - used, off_t(index + 1))
            }
            if needed > maxBytes - used { break }
            used += needed
            index += 1
        }
        return Array(buffer.prefix(used))
    }

    private static func addPlain(_ item: Entry, _ request: Request, _ at: UnsafeMutablePointer<CChar>, _ room: Int, _ next: off_t) -> Int {
        var st = typeOnly(item)
        return fuse_add_direntry(request.raw, at, room, item.name, &st, next)
    }

    private static func addPlus(_ item: Entry, _ request: Request, _ at: UnsafeMutablePointer<CChar>, _ room: Int, _ next: off_t) -> Int {
        var e = fuse_entry_param()
        if let (attributes, timeout) = item.attributes {
            e.ino = fuse_ino_t(item.ino)
            e.generation = 1
            e.attr = attributes
            e.attr_timeout = timeout
            e.entry_timeout = timeout
        } else {
            // Inode 0: the kernel lists the name but makes no entry for it.
            e.attr = typeOnly(item)
        }
        return fuse_add_direntry_plus(request.raw, at, room, item.name, &e, next)
    }

    /// What a plain entry carries: the inode and the file type.
    private static func typeOnly(_ item: Entry) -> stat {
        var st = stat()
        st.st_ino = ino_t(item.ino)
        st.st_mode = item.isDirectory ? 0o040000 : 0o100000  // S_IFDIR : S_IFREG
        return st
    }
}
