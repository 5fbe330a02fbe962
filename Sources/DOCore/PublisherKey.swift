import Foundation

/// A publisher's Ed25519 public key: what a control plane (`--publisher-key`) and a mount
/// (`--trust-key`) pin. Its `keyId` names it in registrations and content policies.
public struct PublisherPublicKey: Hashable, Sendable, CustomStringConvertible {
    /// The raw 32-byte Ed25519 public key.
    public let raw: [UInt8]
    /// The first 16 hex digits of SHA-256(raw key): short enough to read in a log, and only a name:
    /// a signature is always checked against the key itself.
    public let keyId: String

    public init(raw: [UInt8]) throws(PublisherKeyError) {
        guard raw.count == Ed25519.keyByteCount else { throw .notAnEd25519Key(source: "\(raw.count) raw bytes") }
        self.raw = raw
        keyId = String(SHA256.hash(raw).hex.prefix(16))
    }

    /// Parses a PEM public key (SubjectPublicKeyInfo, as `openssl pkey -pubout` writes).
    public init(pem: String, source: String = "PEM text") throws(PublisherKeyError) {
        guard let raw = Ed25519.publicKey(fromPEM: pem) else { throw .notAnEd25519Key(source: source) }
        try self.init(raw: raw)
    }

    /// Reads a `.pub` file.
    public init(contentsOfFile path: String) throws(PublisherKeyError) {
        try self.init(pem: try PublisherKeyFile.read(path), source: path)
    }

    /// The key as PEM text.
    public var pem: String {
        // Encoding a valid raw key cannot fail short of a broken OpenSSL.
        (try? Ed25519.publicKeyPEM(raw)) ?? ""
    }

    /// True when `signature` is this key's signature of `message`.
    public func isValidSignature(_ signature: [UInt8], of message: [UInt8]) -> Bool {
        Ed25519.isValid(signature: signature, of: message, publicKey: raw)
    }

    public var description: String { "publisher key \(keyId)" }
}

/// A publisher's Ed25519 private key. Kept in a file of mode 0600; never logged or printed.
public struct PublisherPrivateKey: Sendable {
    private let raw: [UInt8]
    public let publicKey: PublisherPublicKey

    /// A new key from OpenSSL's random generator.
    public static func generate() throws(PublisherKeyError) -> PublisherPrivateKey {
        let seed: [UInt8]
        do throws(Ed25519Error) {
            seed = try Ed25519.randomPrivateKey()
        } catch {
            throw .crypto(error.description)
        }
        return try PublisherPrivateKey(raw: seed)
    }

    public init(raw: [UInt8]) throws(PublisherKeyError) {
        guard raw.count == Ed25519.keyByteCount else { throw .notAnEd25519Key(source: "\(raw.count) raw bytes") }
        let publicRaw: [UInt8]
        do throws(Ed25519Error) {
            publicRaw = try Ed25519.publicKey(ofPrivate: raw)
        } catch {
            throw .crypto(error.description)
        }
        publicKey = try PublisherPublicKey(raw: publicRaw)
        self.raw = raw
    }

    /// Parses a PEM private key (PKCS#8, as `openssl genpkey -algorithm ed25519` writes).
    public init(pem: String, source: String = "PEM text") throws(PublisherKeyError) {
        guard let raw = Ed25519.privateKey(fromPEM: pem) else { throw .notAnEd25519Key(source: source) }
        try self.init(raw: raw)
    }

    /// Reads a `.key` file.
    public init(contentsOfFile path: String) throws(PublisherKeyError) {
        try self.init(pem: try PublisherKeyFile.read(path), source: path)
    }

    /// The key as PEM text (PKCS#8).
    public func pem() throws(PublisherKeyError) -> String {
        do {
            return try Ed25519.privateKeyPEM(raw)
        } catch {
            throw .crypto(error.description)
        }
    }

    /// Signs `message`; Ed25519 signatures are deterministic, so the same message gives the same bytes.
    public func sign(_ message: [UInt8]) throws(PublisherKeyError) -> [UInt8] {
        do {
            return try Ed25519.sign(message, privateKey: raw)
        } catch {
            throw .crypto(error.description)
        }
    }
}

/// Reading and writing key files.
public enum PublisherKeyFile {
    /// The names `dofs keygen` writes inside its output folder.
    public static let privateKeyName = "publisher.key"
    public static let publicKeyName = "publisher.pub"
    /// A key file is a few hundred bytes; anything much larger is not one.
    static let maxBytes = 16 << 10

    static func read(_ path: String) throws(PublisherKeyError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard data.count <= maxBytes else { throw .notAnEd25519Key(source: path) }
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes a new key pair into `folder` (created if needed): the private key with mode 0600 from
    /// its first byte (never readable by others, not even briefly), the public key 0644. Refuses to
    /// replace existing key files: losing a publisher key orphans every URL it registered.
    public static func writePair(_ key: PublisherPrivateKey, folder: String) throws(PublisherKeyError) {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw .cannotWrite(path: folder, reason: error.localizedDescription)
        }
        let privatePath = (folder as NSString).appendingPathComponent(privateKeyName)
        let publicPath = (folder as NSString).appendingPathComponent(publicKeyName)
        for path in [privatePath, publicPath] where FileManager.default.fileExists(atPath: path) {
            throw .alreadyExists(path: path)
        }
        try write(try key.pem(), to: privatePath, mode: 0o600)
        try write(key.publicKey.pem, to: publicPath, mode: 0o644)
    }

    private static func write(_ text: String, to path: String, mode: mode_t) throws(PublisherKeyError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        // The umask may have narrowed the mode; the private key must be exactly 0600, the public readable.
        _ = fchmod(fd, mode)
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(path)
            throw .cannotWrite(path: path, reason: reason)
        }
    }
}

/// Why a publisher key could not be read, written or used.
public enum PublisherKeyError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case notAnEd25519Key(source: String)
    case alreadyExists(path: String)
    case cannotWrite(path: String, reason: String)
    case crypto(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "cannot read key file \(path): \(reason)"
        case .notAnEd25519Key(let source): return "\(source) does not hold an Ed25519 key in PEM form"
        case .alreadyExists(let path): return "\(path) already exists; refusing to replace a publisher key"
        case .cannotWrite(let path, let reason): return "cannot write \(path): \(reason)"
        case .crypto(let why): return why
        }
    }
}
