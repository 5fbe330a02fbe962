@testable import DOControlPlane
import DOCore
import XCTest

/// What a mount that pins publisher keys believes of a content policy, whoever serves it.
final class PublisherTrustTests: XCTestCase {
    private let a = try! PublisherPrivateKey.generate()
    private let b = try! PublisherPrivateKey.generate()
    private let phf = TestSupport.piecesHashFile(TestSupport.content(length: 300_000, seed: 80))
    private let url = "http://origin.test/a.bin"

    /// The policy a control plane would serve for `phf`, with a signature by each key for its URL.
    private func policy(signedBy signers: [(PublisherPrivateKey, String)], hashOfHashes: String? = nil) throws -> ContentPolicy {
        let signatures = try signers.map { key, url in
            URLSignature(url: url, try PublisherStatement(
                contentId: phf.contentId.rawValue, hashOfHashes: phf.hashOfHashes.base64,
                contentLength: phf.layout.contentLength, pieceSize: phf.layout.pieceSize, url: url).signed(with: key))
        }
        return ContentPolicy(contentId: phf.contentId.rawValue, hashOfHashes: hashOfHashes ?? phf.hashOfHashes.base64,
                             contentCdnUrls: signers.map(\.1) + ["http://attacker.test/extra.bin"],
                             contentLength: phf.layout.contentLength, pieceSize: phf.layout.pieceSize,
                             dofsHashOfHashes: false, publisherSignatures: signatures)
    }

    func testAPolicySignedByATrustedKeyIsBelievedAndOnlyItsSignedURLsAreUsed() throws {
        let trust = PublisherTrust(keyring: PublisherKeyring([a.publicKey]))
        let mirror = "http://mirror.test/a.bin"
        let vouched = try trust.vouch(for: policy(signedBy: [(a, url), (b, "http://b.test/a.bin"), (a, mirror)]),
                                      askedURL: mirror)
        XCTAssertEqual(vouched.keyId, a.publicKey.keyId)
        XCTAssertEqual(vouched.contentUrls, [mirror, url], "the asked URL first; B's URL and unsigned URLs are dropped")
        XCTAssertEqual(try trust.vouch(for: policy(signedBy: [(a, url)]), askedURL: nil).contentUrls, [url])
    }

    func testAPolicySignedByAnotherKeyIsNotBelieved() throws {
        let trust = PublisherTrust(keyring: PublisherKeyring([a.publicKey]))
        XCTAssertThrowsError(try trust.vouch(for: policy(signedBy: [(b, url)]), askedURL: url)) { error in
            XCTAssertEqual(error as? TrustRefusal, .noTrustedKey(signedBy: [b.publicKey.keyId]))
        }
        XCTAssertThrowsError(try trust.vouch(for: policy(signedBy: []), askedURL: nil)) { error in
            XCTAssertEqual(error as? TrustRefusal, .unsigned)
        }
    }

    func testATrustedSignatureForAnotherURLDoesNotVouchForTheURLAsked() throws {
        // A's genuine signature of its content at `url`, served as the answer for a URL A never signed.
        let trust = PublisherTrust(keyring: PublisherKeyring([a.publicKey]))
        XCTAssertThrowsError(try trust.vouch(for: policy(signedBy: [(a, url)]), askedURL: "http://origin.test/other.bin")) { error in
            XCTAssertEqual(error as? TrustRefusal, .urlNotSigned("http://origin.test/other.bin"))
        }
    }

    func testAGenuinePolicyOfAnotherContentIsNoAnswerForAnID() throws {
        let trust = PublisherTrust(keyring: PublisherKeyring([a.publicKey]))
        let asked = TestSupport.piecesHashFile(TestSupport.content(length: 10, seed: 82)).contentId.rawValue
        XCTAssertThrowsError(try trust.vouch(for: policy(signedBy: [(a, url)]), askedContentId: asked, askedURL: nil)) { error in
            XCTAssertEqual(error as? TrustRefusal, .otherContent(asked: asked, answered: phf.contentId.rawValue))
        }
        XCTAssertNoThrow(try trust.vouch(for: policy(signedBy: [(a, url)]), askedContentId: phf.contentId.rawValue, askedURL: nil))
    }

    func testAnAlteredPolicyFailsItsTrustedSignature() throws {
        let trust = PublisherTrust(keyring: PublisherKeyring([a.publicKey]))
        let other = TestSupport.piecesHashFile(TestSupport.content(length: 300_000, seed: 81)).hashOfHashes.base64
        XCTAssertThrowsError(try trust.vouch(for: policy(signedBy: [(a, url)], hashOfHashes: other), askedURL: url)) { error in
            XCTAssertEqual(error as? TrustRefusal, .badSignature)
        }
        var noLength = try policy(signedBy: [(a, url)])
        noLength.contentLength = nil
        XCTAssertThrowsError(try trust.vouch(for: noLength, askedURL: url)) { error in
            guard case .incomplete = error as? TrustRefusal else { return XCTFail("\(error)") }
        }
        var longer = try policy(signedBy: [(a, url)])
        longer.contentLength! += 1
        XCTAssertThrowsError(try trust.vouch(for: longer, askedURL: url))
    }
}
