import Foundation
import GradingHarness
import Lesson03
import SocketKit
import XCTest

// Lesson 3's sendAll checks whose failure would kill the process (a send that dies of
// SIGPIPE, a trap on an unchecked -1, a loop that never ends) run the learner's sendAll in a
// process of its own: this test bundle again, asked for the one test below. (A separate
// program would cost every lesson 3 check a second build: half a second a time.)
//
//     send-after-reset PORT read|unread SIZE    a connection the harness's server resets
//     send-all-to closed:FD|pipe SIZE           a closed descriptor, or a pipe's read end
//
// The child prints one line the grader reads, starting with `report: `:
//     report: threw SocketError call=send code=32 fd=same
//     report: threw OtherType fd=same: its description
//     report: returned fd=closed
// fd= says what became of the descriptor sendAll was given: `same` (still open, the same
// socket), `closed`, or `replaced` (the number now names something else).
// Exit status: 0 the learner's code returned or threw, 3 the exercise is not started, 2 the
// scenario could not be set up, 4 the learner's call had not returned after 2 s (the line
// says whether it was still running or blocked).

/// Not a check: the child process's entry point, run only with WORKBOOK_CHILD set. (Its
/// name has no lesson number on purpose: the progress table and CI count every test named
/// LessonNN... as a check.)
final class SendAllChildProcess: XCTestCase {
    func testScenario() throws {
        guard let scenario = ProcessInfo.processInfo.environment[Lesson03Child.variable] else {
            throw XCTSkip("not a check: lesson 3's graders run this in a process of their own")
        }
        Lesson03Child.run(scenario.split(separator: " ").map(String.init))
    }
}

enum Lesson03Child {
    static let variable = "WORKBOOK_CHILD"
    static let marker = BundleChild.marker

    /// Runs `scenario` in a child copy of this test bundle, waiting at most `seconds`.
    /// Returns how it ended, its report line (without the marker; empty when there is none)
    /// and everything it printed.
    static func start(_ scenario: [String], seconds: Double) throws -> (ending: ChildProcess.Ending, report: String, output: String) {
        try BundleChild.start("Graders.SendAllChildProcess/testScenario", variable: variable, scenario: scenario, seconds: seconds)
    }

    static func run(_ arguments: [String]) -> Never {
        // A test process may have SIGPIPE ignored, and ignored signals are inherited: undo
        // that, so a send without MSG_NOSIGNAL dies here as it would in the learner's program.
        signal(SIGPIPE, SIG_DFL)
        // A blocked signal is inherited too (from a Dispatch worker thread, say): unblock them.
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        pthread_sigmask(SIG_SETMASK, &unblocked, nil)
        switch arguments.first {
        case "send-after-reset":
            // The harness's server resets the connection at once. With `read`, read the reset
            // (recv fails with ECONNRESET, which clears it), so that the learner's send meets
            // a connection that is gone: EPIPE, and SIGPIPE unless it is suppressed. With
            // `unread`, the learner's first send reports the reset itself: ECONNRESET.
            guard arguments.count > 1, let port = UInt16(arguments[1]) else { break }
            let fd = connectToLoopback(port)
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 2000) == 1 else { finish(2, "setup: the harness never reset the connection") }
            if arguments.count < 3 || arguments[2] != "unread" {
                var byte: UInt8 = 0
                _ = recv(fd, &byte, 1, 0)
            }
            sendAllAndReport(fd, payload(arguments.count > 3 ? Int(arguments[3]) ?? 21 : 21))
        case "send-all-to":
            // A closed number, or a pipe's read end (send: ENOTSOCK; write: EBADF) whose write
            // end is closed, so that a poll for POLLOUT before sending returns at once
            // (POLLHUP) rather than waiting.
            let target = arguments.count > 1 ? arguments[1] : ""
            let size = arguments.count > 2 ? Int(arguments[2]) ?? 21 : 21
            if target == "pipe" {
                var ends: [Int32] = [-1, -1]
                guard pipe(&ends) == 0 else { finish(2, "setup: \(SocketError(call: "pipe"))") }
                _ = close(ends[1])
                sendAllAndReport(ends[0], payload(size))
            } else if target.hasPrefix("closed:"), let fd = Int32(target.dropFirst("closed:".count)) {
                guard fcntl(fd, F_GETFD) == -1 else { finish(2, "setup: descriptor \(fd) is open") }
                sendAllAndReport(fd, payload(size))
            }
        default:
            break
        }
        finish(2, "usage: send-after-reset PORT read|unread SIZE | send-all-to closed:FD|pipe SIZE")
    }

    /// The report line, then exit (no XCTest summary: the parent reads only the report).
    private static func finish(_ status: Int32, _ line: String) -> Never {
        print(marker + line)
        fflush(nil)
        exit(status)
    }

    /// `size` bytes that differ from their neighbours, so that a resent piece would show.
    private static func payload(_ size: Int) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
    }

    /// Which open file `fd` names (device, inode), or nil when it is not open.
    private static func identity(_ fd: Int32) -> [UInt64]? {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        return [UInt64(truncatingIfNeeded: status.st_dev), UInt64(truncatingIfNeeded: status.st_ino)]
    }

    /// A connection to 127.0.0.1:`port`, or exit 2.
    private static func connectToLoopback(_ port: UInt16) -> Int32 {
        let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
        let connected = try? SocketAddress.ipv4(host: "127.0.0.1", port: port).withSockAddr { connect(fd, $0, $1) }
        guard fd >= 0, connected == 0 else { finish(2, "setup: \(SocketError(call: "connect"))") }
        return fd
    }

    /// Calls the learner's sendAll on a thread of its own and reports how it ended, with what
    /// became of `fd`. A call still going after 2 s ends the process with status 4, saying
    /// whether its thread was using the processor (spinning) or waiting (blocked).
    private static func sendAllAndReport(_ fd: Int32, _ bytes: [UInt8]) -> Never {
        let before = identity(fd)
        let done = DispatchSemaphore(value: 0)
        let box = CallBox()
        let thread = Thread {
            box.setActivity(ThreadActivity())
            box.set(Result { try sendAll(fd, bytes) })
            done.signal()
        }
        thread.start()
        guard done.wait(timeout: .now() + 2) == .success else {
            let spinning = box.activity?.isSpinning(over: 0.3) ?? false
            finish(4, spinning ? "still running (spinning, using the processor)" : "still blocked")
        }
        let after = identity(fd)
        let state = after == nil ? "closed" : after == before ? "same" : "replaced"
        switch box.result! {
        case .success:
            finish(0, "returned fd=\(state)")
        case .failure(let notStarted as NotStarted):
            finish(3, "\(notStarted)")
        case .failure(let error as SocketError):
            finish(0, "threw SocketError call=\(error.call) code=\(error.code) fd=\(state)")
        case .failure(let error):
            finish(0, "threw \(type(of: error)) fd=\(state): \(error)")
        }
    }
}

/// The learner's call's outcome and what its thread is doing, handed between threads.
private final class CallBox: @unchecked Sendable {
    private let lock = NSLock()
    private var outcome: Result<Void, any Error>?
    private var watched: ThreadActivity?
    func set(_ value: Result<Void, any Error>) { lock.withLock { outcome = value } }
    var result: Result<Void, any Error>? { lock.withLock { outcome } }
    func setActivity(_ activity: ThreadActivity) { lock.withLock { watched = activity } }
    var activity: ThreadActivity? { lock.withLock { watched } }
}
