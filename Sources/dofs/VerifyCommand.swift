import ArgumentParser
import DOCore
import DOEngine
import Foundation

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-hash every verified piece in a cache and remove the damaged ones.",
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
        if damaged > 0 { throw ExitCode.failure }
    }
}
