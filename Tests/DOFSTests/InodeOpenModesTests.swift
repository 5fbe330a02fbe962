@testable import DOFS
import XCTest

/// One mode per inode from its first open to its last release: the kernel refuses to mix passthrough
/// opens with opens dofs serves, and one backing id serves all of an inode's opens.
final class InodeOpenModesTests: XCTestCase {
    func testTheFirstOpenChoosesPassthroughAndLaterOpensShareItsBackingIdUntilTheLastRelease() {
        var modes = InodeOpenModes()
        var registered = 0
        XCTAssertEqual(modes.open(7) { registered += 1; return 3 }, 3)
        XCTAssertEqual(modes.open(7) { registered += 1; return 9 }, 3, "a second open shares the backing id")
        XCTAssertEqual(registered, 1, "the backing file is registered once per inode")
        XCTAssertEqual(modes.release(7).closeBacking, nil, "one open is left")
        let last = modes.release(7)
        XCTAssertFalse(last.served)
        XCTAssertEqual(last.closeBacking, 3, "the last release closes the backing id")
    }

    func testAnInodeDofsServesStaysServedWhileOpenEvenOnceACopyExists() {
        var modes = InodeOpenModes()
        XCTAssertEqual(modes.open(7) { 0 }, 0, "no copy yet: dofs serves it")
        XCTAssertEqual(modes.open(7) { XCTFail("not asked while the inode is served"); return 5 }, 0)
        XCTAssertEqual(modes.release(7).served, true)
        XCTAssertEqual(modes.release(7).closeBacking, nil)
        XCTAssertEqual(modes.open(7) { 5 }, 5, "once every open is released, the next one may pass through")
    }

    func testARefusedBackingFileLeavesTheOpenServedAndInodesAreIndependent() {
        var modes = InodeOpenModes()
        XCTAssertEqual(modes.open(1) { -1 }, 0, "a refusal is served by dofs")
        XCTAssertEqual(modes.open(2) { 4 }, 4)
        XCTAssertTrue(modes.release(1).served)
        XCTAssertEqual(modes.release(2).closeBacking, 4)
    }
}
