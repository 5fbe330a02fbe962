import DOCore
import Foundation
import Hummingbird

/// `POST /array/{contentId}/join/`: DO's array join, answered in dofs's format.
extension ControlPlaneService {
    func join(_ request: Request, _ context: ControlPlaneRequestContext) async throws -> Response {
        let content = try RequestInput.contentId(context)
        let body = try await RequestInput.jsonBody(request, limit: configuration.maxBodyBytes)
        let join = try JoinRequest.flat(body) ?? RequestInput.decode(JoinRequest.self, from: body, what: "join body")
        let origin = origin(request, context)
        guard let external = origin.address else { throw Rejection.badRequest("the join did not come over IP") }
        let parsed = try ParsedJoin(join, externalIp: external, configuration: configuration)
        // A reported address is believed only from a trusted proxy: anyone else could put a third
        // party's address in the swarm and have readers connect to it.
        let reachableAt = origin.viaTrustedProxy ? (parsed.reportedIp ?? external) : external
        let now = Date()
        let member = SwarmMember(
            peerId: parsed.peerId, ip: reachableAt, port: parsed.port, externalIp: external,
            subnet: origin.viaTrustedProxy || parsed.reportedIp == external ? parsed.subnet : nil,
            groupId: parsed.groupId, mode: parsed.mode ?? .lan,
            expiresAt: now.addingTimeInterval(TimeInterval(configuration.memberLifetimeSeconds)), firstJoined: now)
        let joined: JoinAnswer
        do {
            // A member that does not upload (DO's RestrictedUpload) is answered but never listed: nobody
            // could connect to it.
            joined = try await membership.admit(content: content.rawValue, member: member,
                                                wanted: parsed.mode == nil ? 0 : parsed.peersWanted,
                                                record: parsed.mode != nil && !parsed.restrictedUpload, now: now)
        } catch let refusal as JoinRefusal {
            switch refusal {
            case .peerIdBoundElsewhere:
                throw Rejection(status: .conflict, reason: "PeerId \(parsed.peerId) is in use from another address")
            case .rateLimited(let seconds):
                throw Rejection(status: .tooManyRequests, reason: "too many joins from \(external); retry in \(seconds) s")
            }
        } catch {
            logger.error("swarm membership: \(error)")
            throw Rejection(status: .serviceUnavailable, reason: "swarm membership is unavailable: \(error)")
        }
        context.logger.debug("join \(content) by \(parsed.peerId) at \(member.ip):\(member.port): \(joined.peers.count) peers")
        let answer = JoinResponse(
            peers: joined.peers.map { JoinPeer(peerId: $0.peerId, ip: $0.ip, port: $0.port, joinedMs: JoinResponse.milliseconds($0.firstJoined)) },
            reannounceSecs: configuration.reannounceSeconds, joinedMs: JoinResponse.milliseconds(joined.firstJoined))
        if let bytes = answer.jsonBytes() { return JSONReply.raw(bytes) }
        return try JSONReply.ok(answer)
    }
}

/// A join body's values, checked and converted; every refusal names the field.
struct ParsedJoin {
    let peerId: String
    /// The listening port; 0 for a member with `RestrictedUpload` 1 (it serves nothing).
    let port: Int
    /// DO's `RestrictedUpload`: "1" when the member downloads from peers but uploads nothing.
    let restrictedUpload: Bool
    /// `nil` for the download modes without peers (0 HTTP only, 99 simple, 100 bypass).
    let mode: PeeringMode?
    let peersWanted: Int
    let reportedIp: String?
    let subnet: IPv4Subnet?
    let groupId: String

    init(_ join: JoinRequest, externalIp: String, configuration: ControlPlaneConfiguration) throws {
        guard let peerId = join.peerId, peerId.utf8.count == 40, Hex.decode(peerId) != nil else {
            throw Rejection.badRequest("PeerId must be 40 hex digits (20 bytes), got '\((join.peerId ?? "").prefix(60))'")
        }
        self.peerId = peerId.lowercased()

        let restricted = try Self.integer(join.restrictedUpload, "RestrictedUpload", default: 0, in: 0...1)
        restrictedUpload = restricted == 1
        port = restrictedUpload
            ? try Self.integer(join.port, "Port", default: 0, in: 0...65_535)
            : try Self.integer(join.port, "Port", default: JoinRequest.defaultPort, in: 1...65_535)
        let scope = try Self.integer(join.scope, "Scope", default: 1, in: 0...100)
        switch scope {
        case 1, 2, 3: mode = PeeringMode(rawValue: scope)
        case 0, 99, 100: mode = nil
        default: throw Rejection.badRequest("Scope \(scope) is not a DO download mode (0, 1, 2, 3, 99, 100)")
        }
        let wanted = try Self.integer(join.peersWanted, "PeersWanted", default: configuration.defaultPeersWanted,
                                      in: 0...Int(Int32.max))
        peersWanted = min(wanted, configuration.maxPeersPerJoin)

        if let ip = join.reportedIp, !ip.isEmpty {
            guard IPAddress.isValid(ip) else { throw Rejection.badRequest("ReportedIp '\(ip.prefix(60))' is not an IP address") }
            reportedIp = IPAddress.normalized(ip)
        } else {
            reportedIp = nil
        }
        if let maskText = join.subnetMask, !maskText.isEmpty {
            guard let mask = IPAddress.ipv4(maskText) else {
                throw Rejection.badRequest("SubnetMask '\(maskText.prefix(60))' is not a dotted IPv4 mask")
            }
            subnet = reportedIp.flatMap(IPAddress.ipv4).map { IPv4Subnet(address: $0, mask: mask) }
        } else {
            subnet = nil
        }
        let group = join.groupId ?? ""
        guard group.utf8.count <= 512 else { throw Rejection.badRequest("GroupId is longer than 512 bytes") }
        groupId = group
    }

    /// A decimal string in `range`, or `fallback` when absent or empty.
    private static func integer(_ text: String?, _ field: String, default fallback: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text, !text.isEmpty else { return fallback }
        guard let n = Int(text), range.contains(n) else {
            throw Rejection.badRequest("\(field) '\(text.prefix(40))' is not an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return n
    }
}
