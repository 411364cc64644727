import Foundation
import GradingHarness
import SocketKit
import XCTest

/// The tools behind "How a check earns trust" (Tests/Graders/README.md): each must do what
/// the graders rely on, or a check built on it proves nothing.
final class RigorToolsTests: XCTestCase {
    func testTheSameSeedAndCheckGiveTheSameInputs() {
        let one = SeededGenerator(seed: 7), two = SeededGenerator(seed: 7), other = SeededGenerator(seed: 8)
        let first = (0..<5).map { _ in one.next() }
        XCTAssertEqual(first, (0..<5).map { _ in two.next() })
        XCTAssertNotEqual(first, (0..<5).map { _ in other.next() })
        XCTAssertEqual(GradingSeed.generator(for: "a check").bytes(9), GradingSeed.generator(for: "a check").bytes(9))
        XCTAssertNotEqual(GradingSeed.generator(for: "a check").bytes(9), GradingSeed.generator(for: "another").bytes(9))
        let random = SeededGenerator(seed: 3)
        for _ in 0..<200 { XCTAssert((5...9).contains(random.int(in: 5...9))) }
    }

    func testAClosedDescriptorIsPositiveAndNotOpen() {
        let fd = ErrorInputs.closedDescriptor(SeededGenerator(seed: 1))
        XCTAssertGreaterThan(fd, 2)
        XCTAssertFalse(Inspect.isOpen(fd))
    }

    func testAPipeIsNotASocketAndIsClosedAfterwards() throws {
        var seen: Int32 = -1
        try ErrorInputs.withPipe { fd in
            seen = fd
            var value: Int32 = 0
            var length = socklen_t(4)
            XCTAssertEqual(getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &length), -1)
            XCTAssertEqual(errno, ENOTSOCK)
        }
        XCTAssertFalse(Inspect.isOpen(seen))
    }

    func testAFullDescriptorTableMakesSocketFailWithEMFILEAndIsRestored() throws {
        let failure: Int32 = try ErrorInputs.withDescriptorTableFull {
            let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
            if fd >= 0 { _ = LibC.close(fd); return 0 }
            return errno
        }
        XCTAssertEqual(failure, EMFILE)
        let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
        XCTAssertGreaterThanOrEqual(fd, 0, "the limit was not restored")
        _ = LibC.close(fd)
    }

    func testADeadlineTellsSpinningFromBlocking() throws {
        let stop = StopFlag()
        XCTAssertThrowsError(try Deadline.run("spins", seconds: 0.3, unblock: { stop.set() }) {
            var count = 0
            while !stop.isSet { count &+= 1 }
            return count
        }) { error in
            XCTAssertEqual((error as? CallBlocked)?.spinning, true)
        }
        let listener = try HarnessSocket.listener()
        XCTAssertThrowsError(try Deadline.run("accept", seconds: 0.3, unblock: { try? listener.shutdown(ShutdownHow.both) }) {
            accept(listener.fd, nil, nil)
        }) { error in
            XCTAssertEqual((error as? CallBlocked)?.spinning, false)
        }
    }

    func testAMeasuredCallReportsWallAndProcessorTime() throws {
        let waited = try Deadline.measure("sleeps") { usleep(200_000) }
        XCTAssertGreaterThan(waited.seconds, 0.19)
        XCTAssertLessThan(waited.cpuSeconds, 0.05)
        // Spins until its own processor clock shows 0.15 s (however busy the machine is).
        let spun = try Deadline.measure("spins") {
            var time = timespec()
            repeat { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time) } while Double(time.tv_sec) + Double(time.tv_nsec) / 1e9 < 0.15
        }
        XCTAssertGreaterThan(spun.cpuSeconds, 0.1)
    }

    func testImportsAreFoundInEveryForm() {
        let text = """
            import SocketKit
            @testable import GradingHarness
            import struct Foundation.Date
            import Glibc; import XCTest
            // import NotThisOne
            @_exported import Lesson03
            """
        XCTAssertEqual(AnswerImports.modules(importedBy: text), ["SocketKit", "GradingHarness", "Foundation", "Glibc", "XCTest", "Lesson03"])
    }

    func testRepeatedRoundsFoldInTheTranscript() {
        let transcript = Transcript()
        let connection = transcript.open("client")
        for _ in 0..<8 {
            transcript.record(connection, .bytes(from: .harness, [1]))
            transcript.record(connection, .bytes(from: .learner, [2]))
        }
        transcript.record(connection, .closed(by: .harness))
        let lines = transcript.rendered(indent: "").split(separator: "\n")
        XCTAssertEqual(lines.count, 5, lines.joined(separator: "\n"))
        XCTAssert(lines[3].contains("the same 2 lines, 7 more times"), lines.joined(separator: "\n"))
    }
}

private final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
