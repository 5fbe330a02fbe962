@testable import DOControlPlane
import DOCore
import DOHTTP
import Foundation
import Logging
import XCTest

/// Shared helpers: scratch folders, content, a logger, one HTTP client.
enum TestSupport {
    static let http = HTTPClient()
    /// The publisher every fixture's control plane accepts (`ServerFixture.start`), and that signs
    /// `publishRequest`s. `otherPublisher` is a stranger to them.
    static let publisher = try! PublisherPrivateKey.generate()
    static let otherPublisher = try! PublisherPrivateKey.generate()

    /// DO's array join body exactly as do-protocol.md section 2.6 shows it.
    static let joinBodyOfSection2_6 = """
        {"AltCatalogId":"http://tlu.dl.delivery.mp.microsoft.com/filestreamingservice/files/<guid>",
         "PeerId":"e08e8e26fd833d4097b3a62b66adc67b00000000","ReportedIp":"192.168.1.8",
         "SubnetMask":"255.255.255.0","Ipv6":"fe80::240c:cca8:88ed:fdce","IsBackground":"0",
         "ClientDialectVersionMajor":"10","ClientDialectVersionMinor":"1","ClientDialectVersionBuild":"0",
         "ClientDialectVersionRevision":"12","Uploaded":"0","Downloaded":"0","DownloadedCdn":"0",
         "DownloadedDoinc":"0","Left":"73473792","JoinRequestEvent":"1","RestrictedUpload":"0",
         "PeersWanted":"255","GroupId":"","Scope":"1","Profile":"768","Seq":"0"}
        """

    static var logger: Logger {
        var logger = Logger(label: "dofs.control-plane.test")
        logger.logLevel = ProcessInfo.processInfo.environment["DOFS_TEST_LOG"] == nil ? .critical : .debug
        return logger
    }

    /// A fresh, empty folder under /tmp, removed by the caller's teardown.
    static func scratchDirectory(_ name: String) -> String {
        let template = NSTemporaryDirectory() + "dofs-cp-\(name)-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else { fatalError("mkdtemp failed: \(errno)") }
        return String(cString: made)
    }

    /// Deterministic pseudo-random content of `length` bytes.
    static func content(length: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<length).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    /// The PHF dofs publishes for `bytes`.
    static func piecesHashFile(_ bytes: [UInt8], pieceSize: Int = 1 << 16) -> PiecesHashFile {
        let layout = PieceLayout(contentLength: bytes.count, pieceSize: pieceSize)
        let pieces = (0..<layout.pieceCount).map { SHA256.hash(Array(bytes[layout.range(ofPiece: $0)])) }
        return PiecesHashFile(layout: layout, pieces: pieces)
    }

    /// A registration body for fresh content number `seed`, signed by `signer` (`publisher` unless told).
    static func publishRequest(seed: UInt64, length: Int = 200_000, url: String? = nil, includePHF: Bool = true,
                               signer: PublisherPrivateKey? = publisher) -> (PublishRequest, PiecesHashFile) {
        let phf = piecesHashFile(content(length: length, seed: seed))
        let url = url ?? "http://origin.test/files/content-\(seed).bin"
        let request = PublishRequest(publishing: phf, url: url, piecesHashFileUrl: url + ".phf",
                                     includePiecesHashFile: includePHF)
        return (try! signer.map { try request.signed(with: $0) } ?? request, phf)
    }

    static func json<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return Array(try! encoder.encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], file: StaticString = #filePath,
                                     line: UInt = #line) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            XCTFail("cannot decode \(T.self) from \(String(decoding: bytes, as: UTF8.self)): \(error)", file: file, line: line)
            throw error
        }
    }
}

extension PublishRequest {
    /// The request signed (again) by the test publisher, after a test changed a field.
    func resigned() -> PublishRequest { try! signed(with: TestSupport.publisher) }
}

/// A control plane started in-process on 127.0.0.1, port 0, with requests sent through DOHTTP.
final class ServerFixture: @unchecked Sendable {
    let dataDirectory: String
    private(set) var running: RunningControlPlane
    let configuration: ControlPlaneConfiguration

    static func start(_ name: String, configure: (inout ControlPlaneConfiguration) -> Void = { _ in }) async throws -> ServerFixture {
        var configuration = ControlPlaneConfiguration(host: "127.0.0.1", port: 0,
                                                      dataDirectory: TestSupport.scratchDirectory(name))
        configuration.publisherKeys = PublisherKeyring([TestSupport.publisher.publicKey])
        configure(&configuration)
        let running = try await ControlPlaneServer.start(configuration: configuration, logger: TestSupport.logger)
        return ServerFixture(configuration: configuration, running: running)
    }

    private init(configuration: ControlPlaneConfiguration, running: RunningControlPlane) {
        self.configuration = configuration
        self.dataDirectory = configuration.dataDirectory
        self.running = running
    }

    var baseURL: String { running.baseURL }

    /// A client of this control plane with its own state folder.
    func client(stateDirectory: String? = nil) -> ControlPlaneClient {
        ControlPlaneClient(controlPlaneURL: baseURL, stateDirectory: stateDirectory, http: TestSupport.http,
                           logger: TestSupport.logger)
    }

    func get(_ pathOrURL: String) async throws -> HTTPResponse {
        let url = pathOrURL.hasPrefix("http") ? pathOrURL : baseURL + pathOrURL
        return try await TestSupport.http.send(HTTPRequest(url: url))
    }

    func post(_ pathOrURL: String, _ body: [UInt8], headers: [(name: String, value: String)] = []) async throws -> HTTPResponse {
        let url = pathOrURL.hasPrefix("http") ? pathOrURL : baseURL + pathOrURL
        return try await ControlPlaneTransport(http: TestSupport.http).post(url, json: body, maxBytes: 1 << 20, headers: headers)
    }

    /// Stops the server and starts a new one on the same data folder (and a new port).
    func restart() async throws {
        await running.stop()
        running = try await ControlPlaneServer.start(configuration: configuration, logger: TestSupport.logger)
    }

    func stop() async {
        await running.stop()
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }
}

/// Asserts an error answer: the status and an `{"Error": ...}` body containing `reason`.
func assertRejected(_ response: HTTPResponse, status: Int, reasonContains reason: String,
                    file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(response.status, status, "body: \(String(decoding: response.body, as: UTF8.self))", file: file, line: line)
    guard let body = try? JSONDecoder().decode(ErrorBody.self, from: Data(response.body)) else {
        XCTFail("error body is not {\"Error\": ...}: \(String(decoding: response.body, as: UTF8.self))", file: file, line: line)
        return
    }
    XCTAssertTrue(body.error.localizedCaseInsensitiveContains(reason), "reason '\(body.error)' lacks '\(reason)'",
                  file: file, line: line)
}
