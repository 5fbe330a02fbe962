import Foundation

/// The body of `POST /publish/batch` (dofs): many registrations in one request, as `dofs publish
/// --tree` sends them. `{"Registrations": [<PublishRequest>, ...]}`.
///
/// Each registration is exactly a `POST /publish` body and obeys the same rules: signed by a listed
/// publisher key, validated, then registered. The control plane refuses the whole batch (nothing
/// written) when any registration is malformed or not authorized, naming its index; otherwise all are
/// registered in one transaction, and a registration the registry refuses (a conflict, a URL owned by
/// another publisher) is answered in its place while the others count. The number of registrations is
/// bounded (`ControlPlaneConfiguration.maxPublishBatchCount`), checked while decoding, before any
/// registration past the bound is decoded.
public struct PublishBatchRequest: Codable, Equatable, Sendable {
    public var registrations: [PublishRequest]

    public init(registrations: [PublishRequest]) {
        self.registrations = registrations
    }

    /// Set on a `JSONDecoder`'s `userInfo` (an `Int`) to refuse longer batches while decoding.
    public static let maxCountKey = CodingUserInfoKey(rawValue: "dofs.maxPublishBatchCount")!

    enum CodingKeys: String, CodingKey {
        case registrations = "Registrations"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var list = try c.nestedUnkeyedContainer(forKey: .registrations)
        let limit = decoder.userInfo[Self.maxCountKey] as? Int ?? Int.max
        var decoded: [PublishRequest] = []
        while !list.isAtEnd {
            guard decoded.count < limit else {
                throw DecodingError.dataCorrupted(.init(codingPath: list.codingPath,
                                                        debugDescription: "more than \(limit) registrations in one batch"))
            }
            decoded.append(try list.decode(PublishRequest.self))
        }
        registrations = decoded
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(registrations, forKey: .registrations)
    }
}

/// The answer to `POST /publish/batch`: one result per registration, in the request's order.
public struct PublishBatchResponse: Codable, Equatable, Sendable {
    /// One registration's outcome: `Registered` (as `POST /publish` answers), or `Refused` with the
    /// status `POST /publish` would have answered and why.
    public struct Result: Codable, Equatable, Sendable {
        public var registered: PublishResponse?
        public var refusedStatus: Int?
        public var refusedReason: String?

        public init(registered: PublishResponse) {
            self.registered = registered
        }

        public init(refusedStatus: Int, reason: String) {
            self.refusedStatus = refusedStatus
            self.refusedReason = reason
        }

        enum CodingKeys: String, CodingKey {
            case registered = "Registered"
            case refusedStatus = "RefusedStatus"
            case refusedReason = "RefusedReason"
        }
    }

    public var results: [Result]

    public init(results: [Result]) {
        self.results = results
    }

    enum CodingKeys: String, CodingKey {
        case results = "Results"
    }
}
