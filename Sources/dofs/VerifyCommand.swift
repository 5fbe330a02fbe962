import ArgumentParser
import DOCore
import DOEngine
import Foundation

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-hash every verified piece and whole copy in a cache and remove the damaged ones.",
        discussion: """
        Exits 1 if it found damage (the damaged pieces are removed and will be fetched again). Refuses \
        (exit 2, touching nothing) while a mount owns the cache folder: unmount it first.
        """
    )

    @Option(name: .customLong("cache-dir"), help: "The cache folder of a mount.")
    var cacheDir: String

    func run() throws {
        // Own the folder first: opening the store deletes temporary files, which in a folder a mount
        // owns are that mount's staged pieces, and a live mount evicts pieces while we check them.
        let lock: CacheLock
        do {
            lock = try CacheLock(folder: cacheDir)
        } catch {
            FileHandle.standardError.write(Data("dofs verify: refused: \(error)\n".utf8))
            throw ExitCode(2)
        }
        defer { withExtendedLifetime(lock) {} }
        let store: PieceStore
        do {
            store = try PieceStore(root: cacheDir + "/pieces")
        } catch {
            throw UserFacingError("dofs verify: \(error)")
        }
        var checked = 0, damaged = 0
        for key in store.keys {
            guard case .verified(let digest) = key else { continue }
            checked += 1
            guard let bytes = store.storedPiece(key), SHA256.hash(bytes) == digest else {
                print("damaged: \(store.path(for: key))")
                store.remove(key)
                damaged += 1
                continue
            }
        }
        store.settleRemovals()
        print("checked \(checked) verified piece(s), removed \(damaged) damaged")
        // Whole copies are read by the kernel without dofs (passthrough): each must still be its content.
        let copies: WholeCopies, metadata: MetadataStore
        do {
            metadata = try MetadataStore(root: cacheDir + "/metadata")
            copies = try WholeCopies(folder: cacheDir + "/whole", store: store)
        } catch {
            throw UserFacingError("dofs verify: \(error)")
        }
        var damagedCopies = 0
        let copied = copies.all
        for hashOfHashes in copied {
            guard let phf = metadata.load(hashOfHashes: hashOfHashes), copies.matches(phf) else {
                print("damaged: \(copies.folder)/\(hashOfHashes.hex)")
                copies.remove(hashOfHashes)
                damagedCopies += 1
                continue
            }
        }
        print("checked \(copied.count) whole cop\(copied.count == 1 ? "y" : "ies"), removed \(damagedCopies) damaged")
        damaged += damagedCopies
        if damaged > 0 { throw ExitCode.failure }
    }
}
