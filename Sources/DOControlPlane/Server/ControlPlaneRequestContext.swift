import DOCore
import Hummingbird

/// Hummingbird's request context plus the address the request came from.
struct ControlPlaneRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The peer address of the TCP connection (IPv4-mapped IPv6 shown as plain IPv4), if known.
    let remoteIp: String?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteIp = source.channel.remoteAddress?.ipAddress.map(IPAddress.normalized)
    }

    /// Bodies are read by the handlers themselves, each with its own cap.
    var maxUploadSize: Int { 32 << 20 }
}
