/// The answer of `GET /geo`, the first call of DO's control-plane chain (do-protocol.md 2.2).
///
/// Only `KeyValue_EndpointFullUri` is required: it names the next call. Unknown keys are ignored, so a
/// real DO geo answer (with `CacheId`, `ContentCert`, `CompactVersion`, ...) decodes too.
public struct GeoResponse: Codable, Equatable, Sendable {
    /// `KeyValue_EndpointFullUri`: the absolute URL of the key-value call (`.../all`).
    public var keyValueEndpointFullUri: String
    /// `ExternalIpAddress`: the address the service saw the request come from; empty or `0.0.0.0` is invalid.
    public var externalIpAddress: String?
    /// `CountryCode`: ISO 3166 code passed on as `countryCode=` to the key-value call.
    public var countryCode: String?
    /// `Version`: opaque, non-empty hex identifying the service configuration.
    public var version: String?
    /// `CacheHost`: a cache server (Connected Cache style) assigned by the service, when there is one.
    public var cacheHost: String?
    /// `CacheId`: passed on as `CacheId=` to the key-value call when present.
    public var cacheId: String?

    public init(keyValueEndpointFullUri: String, externalIpAddress: String? = nil, countryCode: String? = nil,
                version: String? = nil, cacheHost: String? = nil, cacheId: String? = nil) {
        self.keyValueEndpointFullUri = keyValueEndpointFullUri
        self.externalIpAddress = externalIpAddress
        self.countryCode = countryCode
        self.version = version
        self.cacheHost = cacheHost
        self.cacheId = cacheId
    }

    enum CodingKeys: String, CodingKey {
        case keyValueEndpointFullUri = "KeyValue_EndpointFullUri"
        case externalIpAddress = "ExternalIpAddress"
        case countryCode = "CountryCode"
        case version = "Version"
        case cacheHost = "CacheHost"
        case cacheId = "CacheId"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        keyValueEndpointFullUri = try c.decode(String.self, forKey: .keyValueEndpointFullUri)
        externalIpAddress = try c.decodeIfPresent(String.self, forKey: .externalIpAddress)
        countryCode = try c.decodeIfPresent(String.self, forKey: .countryCode)
        version = try c.decodeIfPresent(String.self, forKey: .version)
        let host = try c.decodeIfPresent(String.self, forKey: .cacheHost)
        cacheHost = host?.isEmpty == true ? nil : host
        // DO sends CacheId as a string ("7"); accept a number as well.
        if let text = try? c.decodeIfPresent(String.self, forKey: .cacheId) {
            cacheId = text
        } else {
            cacheId = try c.decodeLenientInt(forKey: .cacheId).map(String.init)
        }
    }
}
