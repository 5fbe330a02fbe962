import CCurl
import Foundation
import Logging
import Synchronization

/// An HTTP/1.1 client on libcurl's multi interface.
///
/// One dedicated thread drives every transfer of the client (curl's multi loop), so no task of the
/// Swift cooperative pool ever blocks on the network, and connections are reused across requests.
/// `send` suspends until the response is complete; cancelling the calling task aborts the transfer.
public final class HTTPClient: Sendable {
    private let loop: CurlMultiLoop
    public let configuration: HTTPClientConfiguration

    public init(configuration: HTTPClientConfiguration = .init()) {
        CurlGlobal.ensureInitialised()
        self.configuration = configuration
        self.loop = CurlMultiLoop()
    }

    deinit { loop.stop() }

    /// Sends `request` and returns the full response, whatever its status code.
    public func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        guard let scheme = request.url.split(separator: ":", maxSplits: 1).first?.lowercased(),
              scheme == "http" || scheme == "https" else {
            throw .invalidURL(request.url)
        }
        let transfer = CurlTransfer(request: request, configuration: configuration)
        let result: Result<HTTPResponse, HTTPError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                transfer.continuation = continuation
                loop.submit(transfer)
            }
        } onCancel: {
            loop.cancel(transfer)
        }
        return try result.get()
    }
}

enum CurlGlobal {
    private static let initialised: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
    }()

    static func ensureInitialised() {
        precondition(initialised, "curl_global_init failed")
    }
}
