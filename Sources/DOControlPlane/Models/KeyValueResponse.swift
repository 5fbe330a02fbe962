/// The answer of the key-value call (`GET <KeyValue_EndpointFullUri>`, DO's `/all`; do-protocol.md 2.2).
///
/// It names every later endpoint as an absolute URL or a template with the literal `{contentId}`;
/// a client follows these and nothing else. DO's answer is a flat object of many keys: the known ones
/// are decoded here, the rest ignored. dofs adds `Publish_EndpointFullUri` (where `dofs publish`
/// registers), `PublishBatch_EndpointFullUri` (where `dofs publish --tree` registers many at once) and the default policy values, flat, under the same names as in a content policy.
public struct KeyValueResponse: Codable, Equatable, Sendable {
    /// `ContentPolicy_EndpointUri`: the content-policy service root (`<root>/content/<id>/contentpolicy`).
    public var contentPolicyEndpointUri: String?
    /// `ContentPolicy_EndpointFullUri`: the content-policy URL template, with `{contentId}`.
    public var contentPolicyEndpointFullUri: String?
    /// `Discovery_EndpointFullUri`: the discovery URL template, with `{contentId}`.
    public var discoveryEndpointFullUri: String?
    /// `Publish_EndpointFullUri` (dofs): where publishers register content (`POST`).
    public var publishEndpointFullUri: String?
    /// `PublishBatch_EndpointFullUri` (dofs): where publishers register many contents at once (`POST`).
    public var publishBatchEndpointFullUri: String?
    /// Default policy values (`ForegroundQosBps`, `MinFileSizeForPeering`, ...) at the top level.
    public var policies: ContentPolicy.Policies

    /// The placeholder DO's templates contain.
    public static let contentIdPlaceholder = "{contentId}"

    public init(contentPolicyEndpointUri: String? = nil, contentPolicyEndpointFullUri: String? = nil,
                discoveryEndpointFullUri: String? = nil, publishEndpointFullUri: String? = nil,
                publishBatchEndpointFullUri: String? = nil, policies: ContentPolicy.Policies = .init()) {
        self.contentPolicyEndpointUri = contentPolicyEndpointUri
        self.contentPolicyEndpointFullUri = contentPolicyEndpointFullUri
        self.discoveryEndpointFullUri = discoveryEndpointFullUri
        self.publishEndpointFullUri = publishEndpointFullUri
        self.publishBatchEndpointFullUri = publishBatchEndpointFullUri
        self.policies = policies
    }

    enum CodingKeys: String, CodingKey {
        case contentPolicyEndpointUri = "ContentPolicy_EndpointUri"
        case contentPolicyEndpointFullUri = "ContentPolicy_EndpointFullUri"
        case discoveryEndpointFullUri = "Discovery_EndpointFullUri"
        case publishEndpointFullUri = "Publish_EndpointFullUri"
        case publishBatchEndpointFullUri = "PublishBatch_EndpointFullUri"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        contentPolicyEndpointUri = try c.decodeIfPresent(String.self, forKey: .contentPolicyEndpointUri)
        contentPolicyEndpointFullUri = try c.decodeIfPresent(String.self, forKey: .contentPolicyEndpointFullUri)
        discoveryEndpointFullUri = try c.decodeIfPresent(String.self, forKey: .discoveryEndpointFullUri)
        publishEndpointFullUri = try c.decodeIfPresent(String.self, forKey: .publishEndpointFullUri)
        publishBatchEndpointFullUri = try c.decodeIfPresent(String.self, forKey: .publishBatchEndpointFullUri)
        // The policy keys sit next to the endpoints in the same flat object.
        policies = try ContentPolicy.Policies(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(contentPolicyEndpointUri, forKey: .contentPolicyEndpointUri)
        try c.encodeIfPresent(contentPolicyEndpointFullUri, forKey: .contentPolicyEndpointFullUri)
        try c.encodeIfPresent(discoveryEndpointFullUri, forKey: .discoveryEndpointFullUri)
        try c.encodeIfPresent(publishEndpointFullUri, forKey: .publishEndpointFullUri)
        try c.encodeIfPresent(publishBatchEndpointFullUri, forKey: .publishBatchEndpointFullUri)
        try policies.encode(to: encoder)
    }
}
