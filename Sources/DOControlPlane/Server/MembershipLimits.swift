/// How much of the swarm service one address may use; each default says why it is what it is.
///
/// "Address" is where a join came from (the connection, or what a trusted proxy says), never what the
/// join body claims, so these limits cannot be dodged by writing another `ReportedIp`.
public struct MembershipLimits: Sendable {
    /// Members kept per content; beyond it the member closest to expiry is dropped. Bounds memory
    /// (about 200 bytes a member) whatever joins arrive.
    public var maxMembersPerContent = 10_000
    /// Members kept over all contents (about 200 MB at the limit); beyond it joins are answered but
    /// not recorded, so made-up content IDs cannot exhaust memory.
    public var maxMembersTotal = 1_000_000
    /// Members one address may have in one swarm. A host is one member per content; 8 leaves room for
    /// a few hosts behind one NAT address or several mounts on one machine. Beyond it the address's
    /// own member closest to expiry makes room: a flood from one address only displaces itself.
    public var maxMembersPerAddress = 8
    /// Joins per second one address may sustain (a token bucket). A member re-announces each content
    /// every `ReannounceSecs` (5 min), so 20/s is 6,000 open contents per address; beyond it: 429.
    public var joinsPerSecondPerAddress: Double = 20
    /// The bucket's size: a node that opens many contents at once (an `ls -l` of a large catalog).
    public var joinBurstPerAddress: Double = 200
    /// Addresses whose join rate is tracked at once (about 64 bytes each). Full buckets are forgotten
    /// every minute; if more addresses than this are mid-burst, joins from new addresses get 429 until
    /// a sweep makes room, so a spread-out flood cannot grow memory without bound.
    public var maxTrackedAddresses = 200_000

    public init() {}
}
