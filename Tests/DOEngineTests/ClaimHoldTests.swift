@testable import DOEngine
import DOCore
import DOHTTP
import DOSwarm
import Logging
import Synchronization
import XCTest

/// A piece a connected member claims to be fetching from HTTP (`PeerMessage.fetching`) is not fetched
/// from HTTP a second time while the claim stands: the claimant's `have` brings it. A claim is trusted
/// as far as an owner's promise and no further. Driven through `ContentSourceSet.eligible` on scheduler
/// time, against a real peer server on loopback.
final class ClaimHoldTests: XCTestCase {
    /// We and one other member, its peer server claiming the first four of the pieces we own (`ours`);
    /// returns once our view is ready and the claims are in.
    private func member() async throws -> TwoMembers {
        let m = try await TwoMembers.start(self, name: "claims", shares: { ours, theirs in
            guard ours.count >= 5, let first = theirs.first else { throw XCTSkip("the ids split the pieces too unevenly") }
            return ([first], Array(ours.prefix(4)))
        })
        let deadline = ContinuousClock.now + .seconds(5)
        while m.swarm.swarm.claims(of: m.ours[3]).isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(m.swarm.swarm.claims(of: m.ours[3]).map(\.peer), [m.other], "the claims are in")
        return m
    }

    func testAPieceFromHTTPIsOnItsWayUntilItIsStoredAndOneWhoseFetchWasGivenUpIsNot() async throws {
        let m = try await member()
        defer { Task { await m.swarm.stop() } }
        let (stored, givenUp) = (m.ours[4], m.ours[0])
        m.swarm.fetchingFromHTTP(stored)
        m.swarm.fetchingFromHTTP(givenUp)
        XCTAssertEqual(Set(m.swarm.piecesOnTheirWay), [stored, givenUp], "what a peer that connects now hears as claims")
        m.swarm.pieceGivenUp(givenUp)
        XCTAssertEqual(m.swarm.piecesOnTheirWay, [stored], "a piece whose fetch failed is not promised")
        m.swarm.pieceStored(stored)
        XCTAssertEqual(m.swarm.piecesOnTheirWay, [], "stored: in the bitfield from now on")
    }

    func testAPieceWeOwnThatAConnectedMemberIsFetchingFromHTTPWaitsForItsHaveNotForTheCDN() async throws {
        let m = try await member()
        defer { Task { await m.swarm.stop() } }
        var unclaimed = PieceProgress(startedAt: 0)
        XCTAssertEqual(m.set.eligible(piece: m.ours[4], progress: &unclaimed, now: 0).httpCount, 1,
                       "a piece we own that nobody claims goes to the CDN at once")

        let piece = m.ours[0]
        var progress = PieceProgress(startedAt: 0)
        let held = m.set.eligible(piece: piece, progress: &progress, now: 0)
        XCTAssertEqual(held.httpCount, 0, "the claimed piece is not fetched from the CDN a second time")
        let until = try XCTUnwrap(held.reconsiderAt)
        XCTAssertGreaterThan(until, 4, "held for about the longest owner wait (5 s) from when the claim was heard")
        XCTAssertLessThanOrEqual(until, 5)
        XCTAssertTrue(held.newsMayHelp, "the claimant's have is news")

        m.library.held.withLock { _ = $0.insert(piece) }
        m.server.announce(swarmHash: m.swarm.hashOfHashes.bytes, piece: piece)
        let deadline = ContinuousClock.now + .seconds(5)
        while !m.swarm.swarm.hasPeer(withPiece: piece) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let brought = m.set.eligible(piece: piece, progress: &progress, now: 1)
        XCTAssertEqual(brought.sources.first.map { $0.name }, PeerSource.name(of: m.other), "the piece comes from the claimant")
        XCTAssertTrue(m.swarm.swarm.claims(of: piece).isEmpty)
        XCTAssertEqual(m.table.ownerMisses(PeerSource.name(of: m.other)), 0, "a claim kept costs nothing")
    }

    func testAClaimNeverBroughtHoldsTheCDNBackOneLongestOwnerWaitAndThreeSuchCostTheClaimantItsClaims() async throws {
        let m = try await member()
        defer { Task { await m.swarm.stop() } }
        let name = PeerSource.name(of: m.other)
        for (n, piece) in m.ours[1...3].enumerated() {
            var progress = PieceProgress(startedAt: 0)
            XCTAssertEqual(m.set.eligible(piece: piece, progress: &progress, now: 0).httpCount, 0)
            XCTAssertEqual(m.set.eligible(piece: piece, progress: &progress, now: 4.9).httpCount, 0, "piece \(piece)")
            // Past the longest owner wait from the first hold, whenever the claim was heard.
            XCTAssertEqual(m.set.eligible(piece: piece, progress: &progress, now: 5).httpCount, 1, "piece \(piece)")
            XCTAssertTrue(ContentSourceSet.whyHTTP(progress.notes).contains("claimed it"), ContentSourceSet.whyHTTP(progress.notes))
            XCTAssertEqual(m.table.ownerMisses(name), n + 1, "the claimant is charged an owner miss")
        }
        XCTAssertFalse(m.table.mayOwn(name), "three misses in a row: it owns nothing for a while")
        var progress = PieceProgress(startedAt: 10)
        XCTAssertEqual(m.set.eligible(piece: m.ours[0], progress: &progress, now: 10).httpCount, 1,
                       "and its claims hold nothing back")
    }
}
