/// The body of every error answer of a dofs control plane: `{"Error": "<reason>"}`.
public struct ErrorBody: Codable, Equatable, Sendable {
    /// `Error`: one human-readable sentence saying what was wrong with the request.
    public var error: String

    public init(error: String) {
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case error = "Error"
    }
}
