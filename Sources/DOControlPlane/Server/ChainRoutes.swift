import Hummingbird

/// `GET /geo` and `GET /all`: the first two steps of DO's chain, naming every later endpoint.
extension ControlPlaneService {
    func geo(_ request: Request, _ context: ControlPlaneRequestContext) throws -> Response {
        let base = publicBase.base(for: request)
        return try JSONReply.ok(GeoResponse(
            keyValueEndpointFullUri: base + "/all",
            externalIpAddress: origin(request, context).address ?? "",
            countryCode: configuration.countryCode,
            version: geoVersion,
            cacheHost: configuration.cacheHost))
    }

    func keyValue(_ request: Request, _ context: ControlPlaneRequestContext) throws -> Response {
        let base = publicBase.base(for: request)
        let id = KeyValueResponse.contentIdPlaceholder
        return try JSONReply.ok(KeyValueResponse(
            contentPolicyEndpointUri: base,
            contentPolicyEndpointFullUri: base + "/content/\(id)/contentpolicy",
            discoveryEndpointFullUri: base + "/content/\(id)/discovery",
            publishEndpointFullUri: base + "/publish",
            publishBatchEndpointFullUri: base + "/publish/batch",
            policies: configuration.policies))
    }
}
