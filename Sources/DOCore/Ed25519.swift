import COpenSSL

/// Ed25519 (RFC 8032) through OpenSSL's EVP interface: the only place dofs touches OpenSSL's
/// signature and PEM APIs. Keys cross this boundary as raw 32-byte values; PEM is PKCS#8 for private
/// keys and SubjectPublicKeyInfo for public keys, the forms `openssl genpkey -algorithm ed25519` and
/// `openssl pkey -pubout` write, so keys made either way work in both.
enum Ed25519 {
    static let keyByteCount = 32
    static let signatureByteCount = 64

    /// 32 bytes from OpenSSL's CSPRNG: an Ed25519 private key is exactly that.
    static func randomPrivateKey() throws(Ed25519Error) -> [UInt8] {
        var seed = [UInt8](repeating: 0, count: keyByteCount)
        guard RAND_bytes(&seed, Int32(keyByteCount)) == 1 else { throw .openSSL("RAND_bytes failed") }
        return seed
    }

    static func publicKey(ofPrivate raw: [UInt8]) throws(Ed25519Error) -> [UInt8] {
        let key = try privateKey(raw)
        defer { EVP_PKEY_free(key) }
        var out = [UInt8](repeating: 0, count: keyByteCount)
        var length = keyByteCount
        guard EVP_PKEY_get_raw_public_key(key, &out, &length) == 1, length == keyByteCount else {
            throw .openSSL("cannot derive the public key")
        }
        return out
    }

    static func sign(_ message: [UInt8], privateKey raw: [UInt8]) throws(Ed25519Error) -> [UInt8] {
        let key = try privateKey(raw)
        defer { EVP_PKEY_free(key) }
        guard let ctx = EVP_MD_CTX_new() else { throw .openSSL("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(ctx) }
        // Ed25519 hashes internally: no digest is named, and the message goes in one call.
        guard EVP_DigestSignInit(ctx, nil, nil, nil, key) == 1 else { throw .openSSL("EVP_DigestSignInit failed") }
        var signature = [UInt8](repeating: 0, count: signatureByteCount)
        var length = signatureByteCount
        guard EVP_DigestSign(ctx, &signature, &length, message, message.count) == 1, length == signatureByteCount else {
            throw .openSSL("EVP_DigestSign failed")
        }
        return signature
    }

    static func isValid(signature: [UInt8], of message: [UInt8], publicKey raw: [UInt8]) -> Bool {
        guard signature.count == signatureByteCount, raw.count == keyByteCount,
              let key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, raw, raw.count) else { return false }
        defer { EVP_PKEY_free(key) }
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, nil, nil, key) == 1 else { return false }
        return EVP_DigestVerify(ctx, signature, signature.count, message, message.count) == 1
    }

    // MARK: - PEM

    static func privateKeyPEM(_ raw: [UInt8]) throws(Ed25519Error) -> String {
        let key = try privateKey(raw)
        defer { EVP_PKEY_free(key) }
        return try writePEM { bio in PEM_write_bio_PrivateKey(bio, key, nil, nil, 0, nil, nil) }
    }

    static func publicKeyPEM(_ raw: [UInt8]) throws(Ed25519Error) -> String {
        guard let key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, raw, raw.count) else {
            throw .openSSL("not an Ed25519 public key")
        }
        defer { EVP_PKEY_free(key) }
        return try writePEM { bio in PEM_write_bio_PUBKEY(bio, key) }
    }

    /// The raw private key in a PEM text, or `nil` when it holds no Ed25519 private key.
    static func privateKey(fromPEM text: String) -> [UInt8]? {
        readPEM(text, PEM_read_bio_PrivateKey, EVP_PKEY_get_raw_private_key)
    }

    /// The raw public key in a PEM text, or `nil` when it holds no Ed25519 public key.
    static func publicKey(fromPEM text: String) -> [UInt8]? {
        readPEM(text, PEM_read_bio_PUBKEY, EVP_PKEY_get_raw_public_key)
    }

    // MARK: - Internals

    private static func privateKey(_ raw: [UInt8]) throws(Ed25519Error) -> OpaquePointer {
        guard raw.count == keyByteCount,
              let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, raw, raw.count) else {
            throw .openSSL("not an Ed25519 private key")
        }
        return key
    }

    private static func writePEM(_ write: (OpaquePointer) -> Int32) throws(Ed25519Error) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw .openSSL("BIO_new failed") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw .openSSL("PEM encoding failed") }
        var data: UnsafeMutablePointer<CChar>?
        let length = copenssl_bio_mem_data(bio, &data)
        guard length > 0, let data else { throw .openSSL("PEM encoding produced nothing") }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }

    private static func readPEM(
        _ text: String,
        _ read: (OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?, (@convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32)?, UnsafeMutableRawPointer?) -> OpaquePointer?,
        _ raw: (OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<Int>?) -> Int32
    ) -> [UInt8]? {
        let bytes = Array(text.utf8)
        let key: OpaquePointer? = bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return read(bio, nil, nil, nil)
        }
        // PEM readers leave their parse errors queued; drop them so they never leak into later calls.
        ERR_clear_error()
        guard let key else { return nil }
        defer { EVP_PKEY_free(key) }
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 else { return nil }
        var out = [UInt8](repeating: 0, count: keyByteCount)
        var length = keyByteCount
        guard raw(key, &out, &length) == 1, length == keyByteCount else { return nil }
        return out
    }
}

/// OpenSSL refused an operation that should not fail (out of memory, a broken installation).
enum Ed25519Error: Error, CustomStringConvertible {
    case openSSL(String)

    var description: String {
        switch self {
        case .openSSL(let what): return "OpenSSL: \(what)"
        }
    }
}
