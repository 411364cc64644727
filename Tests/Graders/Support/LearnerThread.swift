import Foundation
import GradingHarness
import SocketKit

// Shared by the lesson 7 and lesson 8 graders: a learner's function on a thread of its own,
// bounded writes, and the checks both lessons make of a server (bad listeners refused, a
// normal return when stopped).

/// A learner's function running on a thread of its own, as a program would run it (a
/// server's loop, a chat client's loop), watched from the check's thread: how it ended, and
/// the processor time its thread used.
final class LearnerThread: @unchecked Sendable {
    private let lock = NSLock()
    private var outcome: Result<Void, any Error>?
    private var activity: ThreadActivity?
    private let finished = DispatchSemaphore(value: 0)

    /// Starts `body` on a new thread, with a stale errno left on that thread first (rule 1: a
    /// call that works must not be judged by an old errno). A stub throws at once: then
    /// `NotStarted` is thrown here, after `cleanUp`.
    init(_ random: SeededGenerator, name: String, cleanUp: () -> Void, body: @escaping @Sendable () throws -> Void) throws {
        let stale = StaleErrno(random)
        let started = DispatchSemaphore(value: 0)
        let thread = Thread {
            started.signal()
            let activity = ThreadActivity()
            self.lock.withLock { self.activity = activity }
            stale.plant()
            let result = Result { try body() }
            self.lock.withLock { self.outcome = result }
            self.finished.signal()
        }
        thread.name = "learner: \(name)"
        thread.start()
        // A stub throws at once: that is "not started", not a function that gave up. On a
        // busy machine a new thread may wait a while for a processor: the 50 ms count from
        // when it runs, not from when it was asked for.
        _ = started.wait(timeout: .now() + 2)
        if case .failure(let error as NotStarted)? = waitForReturn(0.05) {
            cleanUp()
            throw error
        }
    }

    /// How it ended; nil while it runs.
    var result: Result<Void, any Error>? { lock.withLock { outcome } }

    /// Processor time the thread has used so far (nil once it has ended).
    var cpuSeconds: Double? {
        guard result == nil else { return nil }
        return lock.withLock { activity }?.cpuSeconds
    }

    /// The processor time the thread used over `seconds` of waiting: near 0 for a loop that
    /// blocks in poll, about `seconds` for one that spins. A loop that never waits on a busy
    /// machine gets little processor time but is always ready to run: when the scheduler had
    /// the thread runnable in most of ten samples, the answer is `seconds`.
    func cpuWhileWaiting(_ seconds: Double) -> Double {
        let before = cpuSeconds ?? 0
        let activity = lock.withLock { self.activity }
        var runnable = 0
        var known = 0
        for _ in 0..<10 {
            Thread.sleep(forTimeInterval: seconds / 10)
            if let state = activity?.isRunnable {
                known += 1
                if state { runnable += 1 }
            }
        }
        if result == nil, known >= 5, runnable * 2 > known { return seconds }
        return max(0, (cpuSeconds ?? before) - before)
    }

    /// Watches the thread for `seconds` while nothing happens: spinning when it used more than
    /// `cpuLimit` seconds of processor time, or when the scheduler held it runnable most of
    /// the time (a loop that never waits, on a machine too busy to give it much processor).
    func watchWhileWaiting(_ seconds: Double, cpuLimit: Double) -> (spinning: Bool, cpu: Double) {
        let before = cpuSeconds ?? 0
        let runnable = lock.withLock { activity }?.isSpinning(over: seconds) ?? false
        let cpu = max(0, (cpuSeconds ?? before) - before)
        return (runnable || cpu > cpuLimit, cpu)
    }

    /// Waits up to `seconds` for the function to return. nil: still running.
    func waitForReturn(_ seconds: Double) -> Result<Void, any Error>? {
        if let result { return result }
        _ = finished.wait(timeout: .now() + seconds)
        return result
    }
}

/// Writes `bytes` to `fd` (a socket or a pipe) without ever waiting more than `seconds` in
/// all: the reader may be the learner's code, which may never read. Returns how many were
/// written (all of them, or fewer when the time ran out or the other end closed).
func writeBounded(_ fd: Int32, _ bytes: [UInt8], seconds: Double) -> Int {
    let deadline = Clock.now + seconds
    var offset = 0
    while offset < bytes.count {
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready = poll(&entry, 1, Int32(max(0, (deadline - Clock.now) * 1000)))
        if ready < 0 && errno == EINTR { continue }
        guard ready > 0, entry.revents & Int16(POLLOUT) != 0 else { break }
        // As much as fits now, never more: a blocking descriptor must not block.
        let written = bytes.withUnsafeBytes { raw -> Int in
            let isSocket = Inspect.isSocket(fd)
            return isSocket
                ? send(fd, raw.baseAddress! + offset, raw.count - offset, sendNoSignal | Int32(MSG_DONTWAIT))
                : write(fd, raw.baseAddress! + offset, min(raw.count - offset, 4096))  // PIPE_BUF: all or nothing
        }
        if written < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) { continue }
        guard written > 0 else { break }
        offset += written
    }
    return offset
}

extension HarnessSocket {
    /// Connects to `address` within 2 s; with `receiveBuffer`, SO_RCVBUF is set first (a small
    /// receive buffer must be set before connecting to take effect on the window).
    static func connect(to address: SocketAddress, receiveBuffer: Int32?) throws -> HarnessSocket {
        guard let receiveBuffer else { return try connect(to: address, seconds: 2) }
        let socket = try make(address.family)
        try socket.setOption(SOL_SOCKET, SO_RCVBUF, receiveBuffer, "SO_RCVBUF")
        try Inspect.connect(socket.fd, to: address, seconds: 2)
        return socket
    }
}

extension Probe {
    /// "0.5 s", for a wait in a message.
    static func secondsText(_ value: Double) -> String {
        String(format: "%.1f s", value)
    }
}

extension Lesson07Grading {
    /// Rule 1 for a server function: a listener that is not open (a closed descriptor drawn
    /// from the seed), not a socket (a pipe), or not listening (a TCP socket of either family):
    /// SocketError at once, every time. `serve(listener, stop)` calls the learner's server.
    static func expectBadListenersRefused(_ probe: Probe, _ serve: @escaping @Sendable (Int32, Int32) throws -> Void) throws {
        let closed = ErrorInputs.closedDescriptor(probe.random)
        try expectFailure(probe, "a closed descriptor (\(closed))", codes: [EBADF]) { stop in try serve(closed, stop) }
        try ErrorInputs.withPipe { pipeEnd in
            try expectFailure(probe, "the read end of a pipe", codes: [ENOTSOCK]) { stop in try serve(pipeEnd, stop) }
        }
        let idle = try HarnessSocket.make(probe.random.pick([.inet, .inet6]))
        defer { idle.close() }
        let fd = idle.fd
        try expectFailure(probe, "a TCP socket that is not listening", codes: [EINVAL]) { stop in try serve(fd, stop) }
    }

    /// The learner's function, running on its own thread, must return normally within
    /// `seconds` (of `after`: "its last handler"); `when` says when ("when stopped").
    static func expectNormalReturn(
        _ function: String, _ wait: (Double) -> Result<Void, any Error>?, within seconds: Double, after: String, when: String, probe: Probe, hint: Hint
    ) throws {
        guard let result = wait(seconds) else {
            throw probe.fail(expected: "\(function) to return within \(Probe.secondsText(seconds)) of \(after)", actual: "it was still running", hint: hint)
        }
        if case .failure(let error) = result {
            throw probe.fail(expected: "\(function) to return normally \(when)", actual: "it threw \(error)", hint: hint)
        }
    }
}
