import DOCore
import Synchronization

/// How many pieces of one verified content are in the piece store, kept current as pieces come and go.
///
/// Why: `user.dofs.pieces` used to count the content's pieces one by one under the store's lock, so an
/// xattr of a huge content froze every read of the mount. Now the store reports each verified piece that
/// appears or disappears (`TallyWatchers`), and the tally adjusts its count; the xattr reads one number.
///
/// A piece hash may occur several times in one content (zero-filled pieces, say): a digest counts as
/// many times as it occurs. `recount` (once, at open) checks each distinct digest under the tally's own
/// lock, one digest at a time, so it never holds the store's lock for more than one look-up, and a change
/// reported meanwhile is applied in order with it.
final class PieceTally: Sendable {
    private struct State {
        var have = 0
        var haveBytes = 0
        var present = Set<SHA256Digest>()
    }

    /// How often each digest occurs in the content.
    private let multiplicity: [SHA256Digest: Int]
    /// Bytes of the content each digest stands for (its length times its multiplicity).
    private let bytesOf: [SHA256Digest: Int]
    private let state = Mutex(State())

    init(_ phf: PiecesHashFile) {
        multiplicity = phf.pieces.reduce(into: [:]) { $0[$1, default: 0] += 1 }
        bytesOf = phf.pieces.indices.reduce(into: [:]) { $0[phf.pieces[$1], default: 0] += phf.layout.length(ofPiece: $1) }
    }

    /// Pieces of the content in the store.
    var have: Int { state.withLock { $0.have } }

    /// Pieces and bytes of the content in the store, read together.
    var stored: (pieces: Int, bytes: Int) { state.withLock { ($0.have, $0.haveBytes) } }

    /// The distinct digests of the content (for eviction).
    var digests: Dictionary<SHA256Digest, Int>.Keys { multiplicity.keys }

    /// Records that the piece with `digest` is now in the store (`present`) or gone from it.
    func changed(_ digest: SHA256Digest, present: Bool) {
        guard let times = multiplicity[digest] else { return }
        state.withLock { s in
            if present {
                if s.present.insert(digest).inserted {
                    s.have += times
                    s.haveBytes += bytesOf[digest]!
                }
            } else if s.present.remove(digest) != nil {
                s.have -= times
                s.haveBytes -= bytesOf[digest]!
            }
        }
    }

    /// Sets the count from the store, digest by digest (call once, after `PieceStore.watch`).
    func recount(in store: PieceStore) {
        for digest in multiplicity.keys {
            state.withLock { s in
                let stored = store.contains(.verified(digest))
                if stored, s.present.insert(digest).inserted {
                    s.have += multiplicity[digest]!
                    s.haveBytes += bytesOf[digest]!
                }
                if !stored, s.present.remove(digest) != nil {
                    s.have -= multiplicity[digest]!
                    s.haveBytes -= bytesOf[digest]!
                }
            }
        }
    }
}

/// The tallies a piece store reports to; a tally is dropped once nothing else holds it.
///
/// Indexed by digest: a report reaches only the tallies of contents that hold that piece, so storing a
/// piece costs the same with one content open or thousands. (It used to walk every tally: opening a
/// tree of 2,000 small files made each commit ask 2,000 tallies, which was a third of the daemon's CPU
/// for a cold `cat` of the tree.) Entries of dropped tallies are swept every `sweepEvery` additions.
final class TallyWatchers: Sendable {
    private struct Weak: @unchecked Sendable {
        weak var tally: PieceTally?
    }

    private struct State {
        var byDigest: [SHA256Digest: [Weak]] = [:]
        var addsSinceSweep = 0
    }

    /// Additions between sweeps of dropped tallies: the sweep walks the whole index, so doing it every
    /// 256 additions keeps its cost per addition small while dead entries stay few.
    static let sweepEvery = 256

    private let state = Mutex(State())

    func add(_ tally: PieceTally) {
        state.withLock { s in
            s.addsSinceSweep += 1
            if s.addsSinceSweep >= Self.sweepEvery {
                s.addsSinceSweep = 0
                s.byDigest = s.byDigest.compactMapValues { list in
                    let live = list.filter { $0.tally != nil }
                    return live.isEmpty ? nil : live
                }
            }
            for digest in tally.digests { s.byDigest[digest, default: []].append(Weak(tally: tally)) }
        }
    }

    func report(added key: PieceStore.Key) {
        guard case .verified(let digest) = key else { return }
        for tally in tallies(of: digest) { tally.changed(digest, present: true) }
    }

    func report(removed keys: [PieceStore.Key]) {
        for key in keys {
            guard case .verified(let digest) = key else { continue }
            for tally in tallies(of: digest) { tally.changed(digest, present: false) }
        }
    }

    private func tallies(of digest: SHA256Digest) -> [PieceTally] {
        state.withLock { $0.byDigest[digest]?.compactMap(\.tally) ?? [] }
    }
}
