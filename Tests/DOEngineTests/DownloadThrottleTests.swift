@testable import DOEngine
import Foundation
import XCTest

final class DownloadThrottleTests: XCTestCase {
    /// The hour that picks DO's business-hours limits is the local one, as Foundation's calendar gives it.
    func testTheThrottlesHourIsTheLocalHourOfTheDay() {
        for _ in 0..<3 {
            let before = Calendar.current.component(.hour, from: Date())
            let hour = DownloadThrottle.localHour()
            let after = Calendar.current.component(.hour, from: Date())
            // Equal unless the hour turned during the call: then try again.
            if before == after {
                XCTAssertEqual(hour, before)
                return
            }
        }
        XCTFail("the hour kept turning")
    }
}
