import DOCore
import DOEngine
import DOSwarm
import Foundation
import Logging
import Synchronization

/// DO's `DOMonthlyUploadDataCap`: at most this many GB a calendar month (UTC) uploaded to Internet
/// peers, those at a public address; peers on the LAN (private, loopback, link-local addresses) are
/// not counted, as in DO. Past the cap, blocks to Internet peers are refused until the month ends.
/// The count lives in memory: a restarted node starts the month again.
final class MonthlyUploadCap: UploadLimiter {
    private let policy: LivePolicy
    private let logger: Logger
    private let state = Mutex<(month: Int, bytes: Int, warned: Bool)>((0, 0, false))

    init(policy: LivePolicy, logger: Logger) {
        self.policy = policy
        self.logger = logger
    }

    func admit(bytes: Int, to address: String?) async -> Bool {
        guard let address, IPAddress.isPublic(address), let cap = policy.current.monthlyUploadCapBytes else { return true }
        let month = Self.month(Date())
        let (admitted, warn) = state.withLock { s -> (Bool, Bool) in
            if s.month != month { s = (month, 0, false) }
            guard s.bytes + bytes <= cap else {
                defer { s.warned = true }
                return (false, !s.warned)
            }
            s.bytes += bytes
            return (true, false)
        }
        if warn { logger.warning("DOMonthlyUploadDataCap reached (\(cap >> 30) GB this month): no more uploads to Internet peers") }
        return admitted
    }

    private static func month(_ date: Date) -> Int {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month], from: date)
        return (c.year ?? 0) * 12 + (c.month ?? 0)
    }
}
