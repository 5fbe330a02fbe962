@testable import DOEngine
import XCTest

/// When a session joins its swarm again (`RejoinSchedule`): every second while the swarm grows around a
/// young download, backing off once it settles, the service's interval otherwise.
final class RejoinScheduleTests: XCTestCase {
    private let schedule = RejoinSchedule()

    func testAnAnswerWithNewMembersInAYoungDownloadJoinsAgainAfterASecond() {
        XCTAssertEqual(schedule.seconds(service: 300, sinceFirstJoin: 0, newMembers: 19, listed: 19, previous: nil, downloading: true), 1)
        XCTAssertEqual(schedule.seconds(service: 300, sinceFirstJoin: 30, newMembers: 1, listed: 60, previous: 8, downloading: true), 1)
    }

    func testAnAnswerWithNobodyNewDoublesTheLastWaitUpToTheServicesInterval() {
        var wait: Double? = nil
        var waits: [Double] = []
        for _ in 0..<7 {
            let next = schedule.seconds(service: 10, sinceFirstJoin: 5, newMembers: 0, listed: 40, previous: wait, downloading: true)
            waits.append(next)
            wait = next
        }
        XCTAssertEqual(waits, [2, 4, 8, 10, 10, 10, 10])
    }

    func testAFinishedMemberOrAnOldSessionKeepsTheServicesInterval() {
        XCTAssertEqual(schedule.seconds(service: 300, sinceFirstJoin: 2, newMembers: 50, listed: 50, previous: nil, downloading: false), 300,
                       "a member holding every piece owns nothing: its view does not matter")
        XCTAssertEqual(schedule.seconds(service: 300, sinceFirstJoin: 60, newMembers: 50, listed: 50, previous: 1, downloading: true), 300,
                       "past the window")
    }

    func testTheServicesIntervalIsNeverExceededNorTheSwarmsJoinRate() {
        XCTAssertEqual(schedule.seconds(service: 1, sinceFirstJoin: 0, newMembers: 0, listed: 5, previous: 4, downloading: true), 1,
                       "never later than the service asks")
        XCTAssertEqual(schedule.seconds(service: 300, sinceFirstJoin: 0, newMembers: 100, listed: 9_999, previous: nil, downloading: true), 100,
                       "10,000 members joining every 100 s: 100 joins a second for the swarm")
    }
}
