import DOCore
import Foundation
import Synchronization
import XCTest

/// A publisher key pair made with `dofs keygen` in a scratch folder of its own: `shared()` is the one
/// every `ControlPlaneProcess` accepts and `DofsCLI.publish` signs with; `make(in:)` makes others.
struct TestPublisher: Sendable {
    let privateKey: String
    let publicKey: String
    let keyId: String

    private static let sharedPair = Mutex<TestPublisher?>(nil)

    /// The test run's publisher, made on first use.
    static func shared() throws -> TestPublisher {
        try sharedPair.withLock { pair in
            if let pair { return pair }
            let folder = NSTemporaryDirectory() + "dofs-it-publisher-\(getpid())"
            try? FileManager.default.removeItem(atPath: folder)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let made = try make(in: folder + "/keys")
            pair = made
            XCTestObservationCenter.shared.addTestObserver(FolderRemover(folder: folder))
            return made
        }
    }

    /// The `POST /publish` body for what `dofs publish` printed, signed by this publisher, for a test
    /// that registers by hand; `piecesHashFile` (the PHF's JSON object) is included when given.
    func registration(_ p: DofsCLI.Published, piecesHashFile: Any? = nil) throws -> [String: Any] {
        let statement = PublisherStatement(contentId: p.ContentId, hashOfHashes: p.HashOfHashes,
                                           contentLength: p.ContentLength, pieceSize: p.PieceSize, url: p.Url)
        let signature = try statement.signed(with: try PublisherPrivateKey(contentsOfFile: privateKey))
        var body: [String: Any] = ["ContentId": p.ContentId, "HashOfHashes": p.HashOfHashes, "ContentLength": p.ContentLength,
                                   "PieceSize": p.PieceSize, "Url": p.Url, "PiecesHashFileUrl": p.PiecesHashFileUrl,
                                   "PublisherKeyId": signature.keyId, "PublisherSignature": signature.signature]
        if let piecesHashFile { body["PiecesHashFile"] = piecesHashFile }
        return body
    }

    /// A new key pair in `folder` (which must not hold one), a test's scratch folder's child: keygen's
    /// output goes beside it, removed with the scratch folder, not to the machine's temporary folder.
    static func make(in folder: String) throws -> TestPublisher {
        let logs = (folder as NSString).deletingLastPathComponent
        let outcome = try ChildProcess.run(DofsCLI.binaryPath, ["keygen", "--out", folder], logDirectory: logs, timeout: 30)
        guard outcome.succeeded,
              let json = try? JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: String],
              let keyId = json["KeyId"] else {
            throw ChildProcess.Failure(description: "dofs keygen --out \(folder): \(outcome.termination) \(outcome.stderr)")
        }
        return TestPublisher(privateKey: folder + "/publisher.key", publicKey: folder + "/publisher.pub", keyId: keyId)
    }
}

/// Removes a folder when the test bundle finishes: the shared key pair outlives every test case.
private final class FolderRemover: NSObject, XCTestObservation, @unchecked Sendable {
    let folder: String

    init(folder: String) {
        self.folder = folder
    }

    func testBundleDidFinish(_ testBundle: Bundle) {
        try? FileManager.default.removeItem(atPath: folder)
    }
}
