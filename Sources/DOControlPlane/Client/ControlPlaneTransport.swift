import DOHTTP

/// The two HTTP verbs the control plane needs, on dofs's HTTP client.
struct ControlPlaneTransport: Sendable {
    let http: HTTPClient

    func get(_ url: String, maxBytes: Int) async throws(ControlPlaneError) -> HTTPResponse {
        do {
            return try await http.send(HTTPRequest(url: url, headers: [(name: "Accept", value: "application/json")],
                                                   maxBodyBytes: maxBytes))
        } catch {
            throw ControlPlaneError(error, url: url)
        }
    }

    func post(_ url: String, json: [UInt8], maxBytes: Int,
              headers: [(name: String, value: String)] = []) async throws(ControlPlaneError) -> HTTPResponse {
        let given = Set(headers.map { $0.name.lowercased() })
        let defaults = [(name: "Content-Type", value: "application/json"), (name: "Accept", value: "application/json")]
        let headers = defaults.filter { !given.contains($0.name.lowercased()) } + headers
        do {
            return try await http.send(HTTPRequest(url: url, method: .post, headers: headers, maxBodyBytes: maxBytes, body: json))
        } catch {
            throw ControlPlaneError(error, url: url)
        }
    }
}
