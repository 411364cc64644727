// grader-child: runs one piece of a learner's code in a process of its own, for the checks
// whose failure would kill the process (a send that dies of SIGPIPE). The graders start it
// with ChildProcess.run and read how it ended.
//
//     grader-child send-after-reset PORT [read|unread] [SIZE]
//     grader-child send-all-to closed:FD|pipe [SIZE]
//     grader-child echo-clients PORT COUNT
//
// echo-clients is the load for the echo server demos: COUNT clients in a row, in turn one
// that is echoed, one that resets mid-message, one that vanishes mid-message, one that
// says nothing. It checks the echoed ones.
//
// Exit status: 0 the learner's code returned or threw (the first line says which),
// 3 the exercise is not started, 2 the scenario could not be set up, 4 the learner's call
// had not returned after 2 s (the line says whether it was still running or blocked).
//
// The send modes print one line the grader reads:
//     threw SocketError call=send code=32 fd=same
//     threw OtherType fd=same: its description
//     returned fd=closed
// fd= says what became of the descriptor sendAll was given: `same` (still open, the same
// socket), `closed`, or `replaced` (the number now names something else).
import Foundation
import Lesson03
import SocketKit

/// One line on stdout, then exit.
func finish(_ status: Int32, _ line: String) -> Never {
    print(line)
    fflush(nil)
    exit(status)
}

// A test process may have SIGPIPE ignored, and ignored signals are inherited: undo that,
// so a send without MSG_NOSIGNAL dies here exactly as it would in the learner's program.
signal(SIGPIPE, SIG_DFL)
// A blocked signal is inherited too (from a Dispatch worker thread, say): unblock them all.
var unblocked = sigset_t()
sigemptyset(&unblocked)
pthread_sigmask(SIG_SETMASK, &unblocked, nil)

/// `size` bytes that differ from their neighbours, so that a resent piece would show.
func payload(_ size: Int) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
}

/// Which open file `fd` names (device, inode), or nil when it is not open.
func identity(_ fd: Int32) -> [UInt64]? {
    var status = stat()
    guard fstat(fd, &status) == 0 else { return nil }
    return [UInt64(truncatingIfNeeded: status.st_dev), UInt64(truncatingIfNeeded: status.st_ino)]
}

/// Calls the learner's sendAll on a thread of its own and reports how it ended, with what
/// became of `fd`. A call still going after 2 s ends the process with status 4, saying
/// whether its thread was using the processor (spinning) or waiting (blocked).
func sendAllAndReport(_ fd: Int32, _ bytes: [UInt8]) -> Never {
    let before = identity(fd)
    let done = DispatchSemaphore(value: 0)
    let box = CallBox()
    let thread = Thread {
        var clock = clockid_t()
        if pthread_getcpuclockid(pthread_self(), &clock) == 0 { box.setClock(clock) }
        let result = Result { try sendAll(fd, bytes) }
        box.set(result)
        done.signal()
    }
    thread.start()
    guard done.wait(timeout: .now() + 2) == .success else {
        // A thread blocked in a system call uses next to no processor time; one that loops
        // uses what it gets, which on a busy machine may be a small share of 0.3 s.
        let first = box.cpuSeconds()
        Thread.sleep(forTimeInterval: 0.3)
        let second = box.cpuSeconds()
        let spinning = first != nil && second != nil && second! - first! > 0.02
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

/// The learner's call's outcome and its thread's processor clock, handed between threads.
final class CallBox: @unchecked Sendable {
    private let lock = NSLock()
    private var outcome: Result<Void, any Error>?
    private var clock: clockid_t?
    func set(_ value: Result<Void, any Error>) { lock.withLock { outcome = value } }
    var result: Result<Void, any Error>? { lock.withLock { outcome } }
    func setClock(_ value: clockid_t) { lock.withLock { clock = value } }
    func cpuSeconds() -> Double? {
        guard let clock = lock.withLock({ clock }) else { return nil }
        var time = timespec()
        guard clock_gettime(clock, &time) == 0 else { return nil }
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

/// A connection to 127.0.0.1:`port`, or exit 2.
func connectToLoopback(_ port: UInt16) -> Int32 {
    let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
    let connected = try? SocketAddress.ipv4(host: "127.0.0.1", port: port).withSockAddr { connect(fd, $0, $1) }
    guard fd >= 0, connected == 0 else { finish(2, "setup: \(SocketError(call: "connect"))") }
    return fd
}

/// Runs `count` clients of an echo server one after another; exit 0 if every client that
/// waited for its echo got it back exactly.
func echoClients(port: UInt16, count: Int) -> Never {
    var echoed = 0
    for number in 0..<count {
        let fd = connectToLoopback(port)
        let message = Array("client \(number) says hello\n".utf8)
        switch number % 4 {
        case 0:  // a polite client: sends a line, reads it back, closes
            _ = message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
            var reply: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 256)
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while reply.count < message.count, poll(&entry, 1, 2000) == 1 {
                let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if got <= 0 { break }
                reply += buffer.prefix(got)
            }
            guard reply == message else { finish(1, "client \(number): sent \(escaped(message)), got back \(escaped(reply))") }
            echoed += 1
        case 1:  // resets in the middle of a message
            _ = message.prefix(7).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
            var linger = SocketKit.linger(l_onoff: 1, l_linger: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<SocketKit.linger>.size))
        case 2:  // vanishes in the middle of a message
            _ = message.prefix(7).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
        default:  // connects, says nothing, leaves
            break
        }
        _ = close(fd)
    }
    finish(0, "\(count) clients: \(echoed) echoed correctly, \(count - echoed) reset, vanished or stayed silent")
}

let arguments = Array(CommandLine.arguments.dropFirst())
let port = arguments.count > 1 ? UInt16(arguments[1]) : nil
switch (arguments.first, port) {
case ("echo-clients", let port?):
    guard arguments.count > 2, let count = Int(arguments[2]), count > 0 else { finish(2, "usage: grader-child echo-clients PORT COUNT") }
    echoClients(port: port, count: count)
case ("send-after-reset", let port?):
    // Connect to the harness's server, which resets the connection at once. With `read`
    // (the default), read the reset (recv fails with ECONNRESET, which clears it), so that
    // the learner's next send meets a connection that is gone: EPIPE, and SIGPIPE unless it
    // is suppressed. With `unread`, the learner's first send reports the reset itself:
    // ECONNRESET.
    let readTheReset = arguments.count < 3 || arguments[2] != "unread"
    let size = arguments.count > 3 ? Int(arguments[3]) ?? 21 : 21
    let fd = connectToLoopback(port)
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&entry, 1, 2000) == 1 else { finish(2, "setup: the harness never reset the connection") }
    if readTheReset {
        var byte: UInt8 = 0
        _ = recv(fd, &byte, 1, 0)
    }
    sendAllAndReport(fd, payload(size))
case ("send-all-to", _):
    // sendAll on a descriptor that is not an open socket: a closed number, or a pipe's read
    // end (send: ENOTSOCK; write: EBADF) whose write end is closed, so that a poll for
    // POLLOUT before sending returns at once (POLLHUP) rather than waiting. Here, so that an
    // unchecked -1 that traps or loops forever takes down only this process.
    let size = arguments.count > 2 ? Int(arguments[2]) ?? 21 : 21
    let target = arguments.count > 1 ? arguments[1] : ""
    if target == "pipe" {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { finish(2, "setup: \(SocketError(call: "pipe"))") }
        _ = close(ends[1])
        sendAllAndReport(ends[0], payload(size))
    } else if target.hasPrefix("closed:"), let fd = Int32(target.dropFirst("closed:".count)) {
        guard fcntl(fd, F_GETFD) == -1 else { finish(2, "setup: descriptor \(fd) is open") }
        sendAllAndReport(fd, payload(size))
    }
    finish(2, "usage: grader-child send-all-to closed:FD|pipe [SIZE]")
default:
    finish(2, "usage: grader-child send-after-reset PORT [read|unread] [SIZE] | send-all-to closed:FD|pipe [SIZE] | echo-clients PORT COUNT")
}
