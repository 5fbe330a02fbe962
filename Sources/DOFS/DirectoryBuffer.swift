import CFuse3

/// Packs directory entries into the kernel's format with `fuse_add_direntry`, starting at `offset`
/// (the index of the first entry not yet returned) and stopping when `maxBytes` is full.
enum DirectoryBuffer {
    /// `entry(i)` gives entry `i` of `count`; only the entries that fit are asked for, so a call costs
    /// what it returns, not the size of the folder.
    static func encode(count: Int, entry: (Int) -> (String, UInt64, Bool), from offset: Int, maxBytes: Int,
                       request: Request) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: maxBytes)
        var used = 0
        var index = max(0, offset)
        while index < count {
            let (name, ino, isDirectory) = entry(index)
            var st = stat()
            st.st_ino = ino_t(ino)
            st.st_mode = isDirectory ? 0o040000 : 0o100000  // S_IFDIR : S_IFREG
            let needed = buffer.withUnsafeMutableBytes { b in
                fuse_add_direntry(request.raw, b.baseAddress!.advanced(by: used).assumingMemoryBound(to: CChar.self),
                                  maxBytes - used, name, &st, off_t(index + 1))
            }
            if needed > maxBytes - used { break }
            used += needed
            index += 1
        }
        return Array(buffer.prefix(used))
    }
}
