@testable import DOFS
import XCTest

/// A mount's device number comes from the mount table, not from a lookup through the mount.
final class MountInfoTests: XCTestCase {
    private let table = """
    22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
    61 22 0:53 / /tmp/dofs\\040it/mnt rw,nosuid,nodev,relatime shared:33 - fuse.dofs dofs ro,user_id=0,group_id=0
    62 22 0:54 / /tmp/stacked rw - fuse.dofs dofs ro
    63 62 0:55 / /tmp/stacked rw - fuse.dofs dofs ro
    """

    func testAMountPointWithASpaceIsFoundByItsEscapedNameAndGivesMajorColonMinor() {
        XCTAssertEqual(MountInfo.device(of: "/tmp/dofs it/mnt", table: table), "0:53")
    }

    func testTheMountOnTopOfAStackIsTheOneFound() {
        XCTAssertEqual(MountInfo.device(of: "/tmp/stacked", table: table), "0:55")
    }

    func testAPathThatIsNoMountPointGivesNil() {
        XCTAssertNil(MountInfo.device(of: "/tmp/dofs", table: table))
        XCTAssertNil(MountInfo.device(of: "/tmp/dofs\\040it/mnt", table: table), "the escaped form is the table's, not a path")
    }
}
