import DOCore
import Foundation

/// Expands DO's URL templates: the literal `{contentId}` replaced by the (percent-encoded) ID.
enum EndpointTemplate {
    /// What DO's Store lookups put in the content-ID slot when they look content up by URL
    /// (do-protocol.md 3.4: "any placeholder (`test`) + altCatalogId=<URL>").
    static let urlLookupContentId = "test"

    static func expand(_ template: String, contentId: String) -> String {
        template.replacingOccurrences(of: KeyValueResponse.contentIdPlaceholder, with: PercentEncoding.encodePathSegment(contentId))
    }
}
