import CCurl
import DOCore
import Foundation

/// One request in flight: the curl easy handle, what has arrived so far and who waits for it.
///
/// Owned by the multi loop's thread from `submit` to completion; nothing else touches its fields then.
final class CurlTransfer: @unchecked Sendable {
    let request: HTTPRequest
    let easy: UnsafeMutableRawPointer
    var continuation: CheckedContinuation<Result<HTTPResponse, HTTPError>, Never>?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var status = 0
    private var headers: [String: String] = [:]
    private var body: [UInt8] = []
    /// The body of a request that `receivesPiece`, filled as it arrives; `received` bytes so far.
    private var piece: PieceBuffer?
    private var received = 0
    private(set) var overflowed = false

    init(request: HTTPRequest, configuration: HTTPClientConfiguration) {
        self.request = request
        easy = curl_easy_init()!
        configure(configuration)
    }

    deinit {
        curl_easy_cleanup(easy)
        curl_slist_free_all(headerList)
    }

    private func configure(_ config: HTTPClientConfiguration) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = ccurl_setopt_str(easy, CURLOPT_URL, request.url)
        _ = ccurl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = ccurl_setopt_str(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = ccurl_setopt_str(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        _ = ccurl_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 1)
        _ = ccurl_setopt_long(easy, CURLOPT_MAXREDIRS, 5)
        _ = ccurl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(config.connectTimeoutSeconds * 1000))
        _ = ccurl_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(config.totalTimeoutSeconds * 1000))
        _ = ccurl_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, config.lowSpeedBytesPerSecond)
        _ = ccurl_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, config.lowSpeedSeconds)
        _ = ccurl_setopt_str(easy, CURLOPT_USERAGENT, config.userAgent)
        // Fewer, larger writes into the body: a 1 MiB piece in 16 callbacks instead of 64. Each
        // transfer holds one such buffer: 64 KiB keeps a readahead window's 16 transfers at 1 MiB
        // (256 KiB held 4 MiB of the daemon's memory to save 12 calls per MiB, nothing beside the copies).
        _ = ccurl_setopt_long(easy, CURLOPT_BUFFERSIZE, 64 << 10)
        _ = ccurl_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 1)
        _ = ccurl_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 2)
        if let ca = config.caFile { _ = ccurl_setopt_str(easy, CURLOPT_CAINFO, ca) }
        // "host!" binds to that address, never to an interface or host of the same name.
        if let local = config.localAddress { _ = ccurl_setopt_str(easy, CURLOPT_INTERFACE, "host!" + local) }
        // Content must arrive exactly as stored: no transparent decompression.
        _ = ccurl_setopt_long(easy, CURLOPT_HTTP_CONTENT_DECODING, 0)
        if request.method == .head { _ = ccurl_setopt_long(easy, CURLOPT_NOBODY, 1) }
        if let r = request.range {
            _ = ccurl_setopt_str(easy, CURLOPT_RANGE, "\(r.lowerBound)-\(r.upperBound - 1)")
        }
        if request.method == .post {
            let body = request.body ?? []
            _ = ccurl_setopt_long(easy, CURLOPT_POST, 1)
            // The size first: COPYPOSTFIELDS copies that many bytes, so the array need not outlive this call.
            _ = ccurl_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            if body.isEmpty {
                _ = ccurl_setopt_str(easy, CURLOPT_COPYPOSTFIELDS, "")
            } else {
                _ = body.withUnsafeBytes { ccurl_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress!)) }
            }
            // No "Expect: 100-continue" round trip for small JSON bodies.
            headerList = curl_slist_append(headerList, "Expect:")
        }
        for h in request.headers {
            headerList = curl_slist_append(headerList, "\(h.name): \(h.value)")
        }
        if let list = headerList { _ = ccurl_setopt_ptr(easy, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list)) }
        _ = ccurl_setopt_ptr(easy, CURLOPT_PRIVATE, me)
        _ = ccurl_setopt_ptr(easy, CURLOPT_WRITEDATA, me)
        _ = ccurl_setopt_datacb(easy, CURLOPT_WRITEFUNCTION, curlWriteBody)
        _ = ccurl_setopt_ptr(easy, CURLOPT_HEADERDATA, me)
        _ = ccurl_setopt_datacb(easy, CURLOPT_HEADERFUNCTION, curlWriteHeader)
        if let r = request.range {
            if request.receivesPiece {
                piece = PieceBuffer(count: min(r.count, request.maxBodyBytes))
            } else {
                body.reserveCapacity(min(r.count, request.maxBodyBytes))
            }
        }
    }

    fileprivate func appendBody(_ chunk: UnsafeRawBufferPointer) -> Bool {
        guard received + chunk.count <= request.maxBodyBytes else {
            overflowed = true
            return false
        }
        if let piece {
            guard received + chunk.count <= piece.count else {
                overflowed = true
                return false
            }
            piece.fill(at: received, from: chunk)
        } else {
            body.append(contentsOf: chunk)
        }
        received += chunk.count
        return true
    }

    fileprivate func appendHeaderLine(_ line: UnsafeRawBufferPointer) {
        switch HeaderLine(line) {
        case .status:
            // A new status line (after a redirect or a 100 Continue) starts a new header block.
            headers = [:]
        case .field(let name, let value):
            headers[name] = value
        case .other:
            break
        }
    }

    /// Builds the outcome once curl reports the transfer done.
    func finish(code: CURLcode) -> Result<HTTPResponse, HTTPError> {
        var status = 0
        _ = ccurl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        // After a redirect, errors name the URL that failed, not only the one asked for.
        var effective: UnsafeMutableRawPointer?
        let landed = ccurl_getinfo_ptr(easy, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK
            ? effective.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) } : nil
        let redirected = landed.flatMap { $0 == request.url ? nil : $0 }
        let url = redirected.map { "\(request.url) (redirected to \($0))" } ?? request.url
        let detail = String(cString: curl_easy_strerror(code))
        if code == CURLE_UNSUPPORTED_PROTOCOL, let redirected {
            return .failure(.transferFailed(url: request.url, detail: "redirected to \(redirected), which is not http(s); not followed"))
        }
        switch code {
        case CURLE_OK:
            if let piece {
                // Handed on only when whole: a short body is reported by its length, without its bytes.
                return .success(HTTPResponse(status: status, headers: headers, piece: received == piece.count ? piece : nil,
                                             bodyCount: received))
            }
            return .success(HTTPResponse(status: status, headers: headers, body: body))
        case CURLE_WRITE_ERROR where overflowed:
            return .failure(.bodyTooLarge(url: url, limit: request.maxBodyBytes))
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .failure(.connectFailed(url: url, detail: detail))
        case CURLE_OPERATION_TIMEDOUT:
            return .failure(.timedOut(url: url, detail: detail))
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            return .failure(.invalidURL(url))
        default:
            return .failure(.transferFailed(url: url, detail: detail))
        }
    }
}

private func curlWriteBody(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ userdata: UnsafeMutableRawPointer?) -> Int {
    let n = size * count
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
    return transfer.appendBody(UnsafeRawBufferPointer(start: data, count: n)) ? n : 0
}

private func curlWriteHeader(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ userdata: UnsafeMutableRawPointer?) -> Int {
    let n = size * count
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
    transfer.appendHeaderLine(UnsafeRawBufferPointer(start: data, count: n))
    return n
}
