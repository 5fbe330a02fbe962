import Foundation
import Synchronization

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
            let made = try make(in: folder)
            pair = made
            return made
        }
    }

    /// A new key pair in `folder` (which must not hold one).
    static func make(in folder: String) throws -> TestPublisher {
        let outcome = try ChildProcess.run(DofsCLI.binaryPath, ["keygen", "--out", folder], logDirectory: NSTemporaryDirectory(), timeout: 30)
        guard outcome.succeeded,
              let json = try? JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: String],
              let keyId = json["KeyId"] else {
            throw ChildProcess.Failure(description: "dofs keygen --out \(folder): \(outcome.termination) \(outcome.stderr)")
        }
        return TestPublisher(privateKey: folder + "/publisher.key", publicKey: folder + "/publisher.pub", keyId: keyId)
    }
}
