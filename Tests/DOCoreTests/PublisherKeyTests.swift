@testable import DOCore
import Foundation
import XCTest

/// Publisher keys: made, stored, read back (also as OpenSSL writes them), and signatures that hold
/// for exactly what was signed.
final class PublisherKeyTests: XCTestCase {
    private var folder: String!

    override func setUp() {
        folder = NSTemporaryDirectory() + "dofs-keys-\(UUID().uuidString)"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private let statement = PublisherStatement(contentId: "DO-abc", hashOfHashes: "XFwc09ZgrQk0+l68F4qcXd2j/4J/197UwtwNukMbAis=",
                                               contentLength: 3_000_000, pieceSize: 1 << 20, url: "http://origin/f.bin")

    func testAKeyPairIsWrittenWithAPrivateKeyOnlyItsOwnerCanReadAndReadsBackTheSame() throws {
        let key = try PublisherPrivateKey.generate()
        try PublisherKeyFile.writePair(key, folder: folder)
        let privatePath = folder + "/publisher.key", publicPath = folder + "/publisher.pub"
        XCTAssertEqual(try mode(privatePath), 0o600)
        XCTAssertEqual(try mode(publicPath), 0o644)
        let reread = try PublisherPrivateKey(contentsOfFile: privatePath)
        XCTAssertEqual(reread.publicKey, key.publicKey)
        XCTAssertEqual(try PublisherPublicKey(contentsOfFile: publicPath), key.publicKey)
        XCTAssertEqual(key.publicKey.keyId.count, 16)
        XCTAssertEqual(key.publicKey.keyId, String(SHA256.hash(key.publicKey.raw).hex.prefix(16)))
    }

    func testExistingKeyFilesAreNeverReplaced() throws {
        let first = try PublisherPrivateKey.generate()
        try PublisherKeyFile.writePair(first, folder: folder)
        XCTAssertThrowsError(try PublisherKeyFile.writePair(try PublisherPrivateKey.generate(), folder: folder)) { error in
            XCTAssertEqual(error as? PublisherKeyError, .alreadyExists(path: folder + "/publisher.key"))
        }
        XCTAssertEqual(try PublisherPrivateKey(contentsOfFile: folder + "/publisher.key").publicKey, first.publicKey)
    }

    func testASignatureHoldsForExactlyTheSignedStatementAndKey() throws {
        let key = try PublisherPrivateKey.generate()
        let signature = try statement.signed(with: key)
        XCTAssertTrue(statement.isSigned(by: key.publicKey, signature))
        XCTAssertEqual(try statement.signed(with: key), signature, "Ed25519 is deterministic")

        var changed: [PublisherStatement] = []
        for edit in [{ (s: inout PublisherStatement) in s.contentId += "x" },
                     { $0.hashOfHashes = "0l8VmvSYOB9MHxnACNFKFfId20eJmsQWzMSl/0bGDmY=" },
                     { $0.contentLength += 1 }, { $0.pieceSize /= 2 }, { $0.url += "?evil" }] {
            var s = statement
            edit(&s)
            changed.append(s)
        }
        for other in changed { XCTAssertFalse(other.isSigned(by: key.publicKey, signature), "\(other)") }

        let stranger = try PublisherPrivateKey.generate()
        XCTAssertFalse(statement.isSigned(by: stranger.publicKey, signature))
        let forged = PublisherSignature(keyId: stranger.publicKey.keyId, signature: signature.signature)
        XCTAssertFalse(statement.isSigned(by: stranger.publicKey, forged), "a signature moved to another key ID")
        var flipped = Base64.decode(signature.signature)!
        flipped[7] ^= 1
        XCTAssertFalse(statement.isSigned(by: key.publicKey, PublisherSignature(keyId: signature.keyId, signature: Base64.encode(flipped))))
        XCTAssertFalse(statement.isSigned(by: key.publicKey, PublisherSignature(keyId: signature.keyId, signature: "not base64")))
    }

    func testSignedBytesCannotBeShiftedFromOneFieldToAnother() {
        let a = PublisherStatement(contentId: "a", hashOfHashes: "b", contentLength: 1, pieceSize: 2, url: "c\nUrl:1:d")
        let b = PublisherStatement(contentId: "a", hashOfHashes: "b", contentLength: 1, pieceSize: 2, url: "c")
        XCTAssertNotEqual(a.signedBytes, b.signedBytes)
        let c = PublisherStatement(contentId: "ab", hashOfHashes: "", contentLength: 1, pieceSize: 2, url: "c")
        let d = PublisherStatement(contentId: "a", hashOfHashes: "b", contentLength: 1, pieceSize: 2, url: "c")
        XCTAssertNotEqual(c.signedBytes, d.signedBytes)
    }

    func testKeysMadeByOpenSSLWorkAndOtherKindsOfKeyAreRefused() throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try openssl(["genpkey", "-algorithm", "ed25519", "-out", folder + "/o.key"])
        try openssl(["pkey", "-in", folder + "/o.key", "-pubout", "-out", folder + "/o.pub"])
        let key = try PublisherPrivateKey(contentsOfFile: folder + "/o.key")
        XCTAssertEqual(try PublisherPublicKey(contentsOfFile: folder + "/o.pub"), key.publicKey)

        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", folder + "/ec.key"])
        XCTAssertThrowsError(try PublisherPrivateKey(contentsOfFile: folder + "/ec.key")) { error in
            XCTAssertEqual(error as? PublisherKeyError, .notAnEd25519Key(source: folder + "/ec.key"))
        }
        XCTAssertThrowsError(try PublisherPublicKey(pem: "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"))
        XCTAssertThrowsError(try PublisherPublicKey(contentsOfFile: folder + "/missing.pub")) { error in
            guard case .unreadable = error as? PublisherKeyError else { return XCTFail("\(error)") }
        }
        // A private key is not a public key file.
        XCTAssertThrowsError(try PublisherPublicKey(contentsOfFile: folder + "/o.key"))
    }

    func testAKeyringChecksByKeyId() throws {
        let a = try PublisherPrivateKey.generate(), b = try PublisherPrivateKey.generate()
        let ring = PublisherKeyring([a.publicKey])
        XCTAssertEqual(ring.check(statement, try statement.signed(with: a)), .valid)
        XCTAssertEqual(ring.check(statement, try statement.signed(with: b)), .unknownKey)
        var altered = statement
        altered.url = "http://origin/other.bin"
        XCTAssertEqual(ring.check(altered, try statement.signed(with: a)), .invalid)
    }

    private func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "openssl \(arguments.joined(separator: " "))")
    }
}
