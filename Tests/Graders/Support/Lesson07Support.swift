import Foundation
import GradingHarness
import SocketKit

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
        let thread = Thread {
            let activity = ThreadActivity()
            self.lock.withLock { self.activity = activity }
            stale.plant()
            let result = Result { try body() }
            self.lock.withLock { self.outcome = result }
            self.finished.signal()
        }
        thread.name = "learner: \(name)"
        thread.start()
        // A stub throws at once: that is "not started", not a function that gave up.
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
    /// blocks in poll, about `seconds` for one that spins.
    func cpuWhileWaiting(_ seconds: Double) -> Double {
        let before = cpuSeconds ?? 0
        Thread.sleep(forTimeInterval: seconds)
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

/// A learner's server function (lessons 7 and 8) running on a thread of its own, as a
/// program would run it: on a listener the harness made, told to stop through a pipe.
///
/// The harness keeps the listener and both ends of the stop pipe; the learner's function
/// must close only what it accepted.
final class RunningServer: @unchecked Sendable {
    let listener: HarnessSocket
    let address: SocketAddress
    let stopRead: Int32
    private let stopWrite: Int32
    private var thread: LearnerThread!

    /// Starts `body(listener, stop)` on a new thread. With `sendBuffer`, the listener's
    /// SO_SNDBUF is set first: the connections it accepts inherit it (and Linux then stops
    /// growing it), so that a client that never reads fills the kernel's buffers after a few
    /// kilobytes instead of megabytes.
    init(_ random: SeededGenerator, host: String = "127.0.0.1", sendBuffer: Int32? = nil, body: @escaping @Sendable (Int32, Int32) throws -> Void) throws {
        listener = try HarnessSocket.listener(host: host, backlog: 128, ownsAccepted: false)
        if let sendBuffer { try listener.setOption(SOL_SOCKET, SO_SNDBUF, sendBuffer, "SO_SNDBUF") }
        address = try listener.localAddress
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw SocketError(call: "pipe") }
        (stopRead, stopWrite) = (ends[0], ends[1])
        let (listenerFD, stop) = (listener.fd, stopRead)
        thread = try LearnerThread(random, name: "server", cleanUp: closeDescriptors) { try body(listenerFD, stop) }
    }

    /// How it ended; nil while it runs.
    var result: Result<Void, any Error>? { thread.result }

    /// Processor time the server's thread has used so far (nil once it has ended).
    var cpuSeconds: Double? { thread.cpuSeconds }

    /// The processor time the server used over `seconds` of waiting: near 0 for a server
    /// that blocks in poll, about `seconds` for one that spins.
    func cpuWhileWaiting(_ seconds: Double) -> Double { thread.cpuWhileWaiting(seconds) }

    /// Spinning or not, over `seconds` with nothing to do (see LearnerThread).
    func watchWhileWaiting(_ seconds: Double, cpuLimit: Double) -> (spinning: Bool, cpu: Double) {
        thread.watchWhileWaiting(seconds, cpuLimit: cpuLimit)
    }

    /// Writes the stop byte (once).
    func requestStop() {
        var byte: UInt8 = 1
        _ = write(stopWrite, &byte, 1)
    }

    /// Waits up to `seconds` for the function to return. nil: still running.
    func waitForReturn(_ seconds: Double) -> Result<Void, any Error>? { thread.waitForReturn(seconds) }

    /// True when the stop byte is still in the pipe: the server did not read it.
    var stopByteStillThere: Bool {
        var count: Int32 = 0
        return ioctl(stopRead, UInt(FIONREAD), &count) == 0 && count > 0
    }

    /// Stops the server (if it still runs, its listener is shut down so that a server stuck
    /// in accept wakes up) and closes the harness's descriptors. For `defer`.
    func tearDown() {
        requestStop()
        if waitForReturn(2) == nil { _ = shutdown(listener.fd, Int32(SHUT_RDWR)) }
        if waitForReturn(1) != nil { closeDescriptors() }
        // A server that never returns keeps its descriptors: closing them under it could
        // hand their numbers to the next check. The check has failed already.
    }

    private func closeDescriptors() {
        _ = close(stopRead)
        _ = close(stopWrite)
        listener.close()
    }
}

/// A client of a lesson 7 server: connect, send, read back, with bounds on every wait.
struct EchoClient {
    let socket: HarnessSocket
    let connection: Int
    let transcript: Transcript

    init(_ address: SocketAddress, number: Int, transcript: Transcript, receiveBuffer: Int32? = nil) throws {
        socket = try HarnessSocket.connect(to: address, receiveBuffer: receiveBuffer)
        self.transcript = transcript
        connection = transcript.open("client \(number) -> server")
    }

    func send(_ bytes: [UInt8]) throws {
        transcript.record(connection, .bytes(from: .harness, bytes))
        try socket.sendAll(bytes)
    }

    /// Reads until `count` bytes have come, the server closes, or `seconds` pass.
    func receive(_ count: Int, seconds: Double) throws -> (bytes: [UInt8], closed: Bool) {
        let deadline = Clock.now + seconds
        var bytes: [UInt8] = []
        while bytes.count < count {
            guard let chunk = try socket.receive(limit: count - bytes.count, seconds: max(0, deadline - Clock.now)) else { break }
            if chunk.isEmpty {
                transcript.record(connection, .bytes(from: .learner, bytes))
                transcript.record(connection, .closed(by: .learner))
                return (bytes, true)
            }
            bytes += chunk
        }
        if !bytes.isEmpty { transcript.record(connection, .bytes(from: .learner, bytes)) }
        return (bytes, false)
    }

    /// True when the server has closed this connection (end-of-file or reset) within `seconds`.
    func closedByServer(within seconds: Double) -> Bool {
        let deadline = Clock.now + seconds
        while Clock.now < deadline {
            do {
                guard let chunk = try socket.receive(seconds: max(0, deadline - Clock.now)) else { return false }  // still open
                if chunk.isEmpty { return true }  // end-of-file
            } catch {
                return true  // a reset
            }
        }
        return false
    }
}

extension HarnessSocket {
    /// Connects to `address` within 2 s; with `receiveBuffer`, SO_RCVBUF is set first (a small
    /// receive buffer must be set before connecting to take effect on the window).
    static func connect(to address: SocketAddress, receiveBuffer: Int32?) throws -> HarnessSocket {
        guard let receiveBuffer else { return try connect(to: address, seconds: 2) }
        let socket = try make(address.family)
        try socket.setOption(SOL_SOCKET, SO_RCVBUF, receiveBuffer, "SO_RCVBUF")
        let flags = fcntl(socket.fd, F_GETFL)
        _ = fcntl(socket.fd, F_SETFL, flags | O_NONBLOCK)
        let started = try address.withSockAddr { SocketKit.connect(socket.fd, $0, $1) }
        if started != 0 {
            guard errno == EINPROGRESS, Inspect.waitWritable(socket.fd, seconds: 2) else { throw SocketError(call: "connect") }
        }
        _ = fcntl(socket.fd, F_SETFL, flags)
        return socket
    }
}

/// What the lesson 7 checks share.
enum Lesson07Grading {
    static func describe(_ result: Result<Void, any Error>) -> String {
        switch result {
        case .success: return "returned normally"
        case .failure(let error): return "threw \(error)"
        }
    }

    /// The failure for a server that returned while it should still be serving.
    static func returnedEarly(_ result: Result<Void, any Error>, probe: Probe, while situation: String) -> CheckFailure {
        probe.fail(expected: "the server to keep running until the stop pipe is readable", actual: "it \(describe(result)) while \(situation), with no stop byte written", hint: .serverReturnedEarly)
    }

    /// The server's descriptors still open: those opened since `baseline`, less the
    /// harness's own (the listener, the stop pipe, the clients' ends) and `except`.
    static func leftOpen(since baseline: DescriptorCensus, server: RunningServer, except: [Int32] = []) -> [Int32] {
        DescriptorCensus.take().added(since: baseline)
            .filter { $0 != server.listener.fd && $0 != server.stopRead && !except.contains($0) && !Inspect.isHarnessOwned($0) }
            .sorted()
    }

    /// Runs a server on a bad listener: it must throw SocketError with one of `codes`,
    /// within 2 s, not hang, spin or return.
    static func expectFailure(_ probe: Probe, _ situation: String, codes: [Int32], _ body: @escaping @Sendable (Int32) throws -> Void) throws {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw SocketError(call: "pipe") }
        defer { ends.forEach { _ = close($0) } }
        let stop = ends[0]
        let names = codes.map(errnoName).joined(separator: " or ")
        let expected = "a SocketError (\(names)) at once, on \(situation)"
        let measured = try probe.measure("the server on \(situation)", seconds: 2) {
            ErrorInputs.leaveStaleErrno(probe.random)
            try body(stop)
        }
        switch measured.result {
        case .success:
            throw probe.fail(expected: expected, actual: "it returned without throwing", hint: .serverIgnoresErrors)
        case .failure(let blocked as CallBlocked):
            // Unblock it: the stop pipe, as a caller would.
            var byte: UInt8 = 1
            _ = write(ends[1], &byte, 1)
            throw probe.fail(expected: expected, actual: "it was \(blocked.state) after 2 s", hint: blocked.spinning ? .spinning : .serverIgnoresErrors)
        case .failure(let error as SocketError):
            guard codes.contains(error.code) else {
                throw probe.fail(expected: expected, actual: "it threw \(error)", hint: .errnoLate)
            }
        case .failure(let error as NotStarted):
            throw error
        case .failure(let error):
            throw probe.fail(expected: expected, actual: "it threw \(error)", hint: .serverErrorType)
        }
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

    /// A client that writes as fast as it can and never reads, on a thread of its own,
    /// until the server disconnects it or `seconds` pass.
    static func flood(_ client: EchoClient, seconds: Double) -> Flood {
        let flood = Flood()
        let fd = client.socket.fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        Thread {
            let chunk = [UInt8](repeating: 0x61, count: 16_384)
            let deadline = Clock.now + seconds
            var written = 0
            var cutOff = false
            while Clock.now < deadline {
                let sent = chunk.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
                if sent > 0 { written += sent; continue }
                if sent < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                    // Full: wait for room, or for the server to cut us off.
                    var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&entry, 1, 50)
                    if entry.revents & Int16(POLLERR | POLLHUP) != 0 { cutOff = true; break }
                    continue
                }
                cutOff = true  // EPIPE or ECONNRESET: the server closed it
                break
            }
            flood.finish(written: written, cutOff: cutOff)
        }.start()
        return flood
    }
}

/// How a flooding client ended.
final class Flood: @unchecked Sendable {
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)
    private var outcome = (written: 0, cutOff: false)
    func finish(written: Int, cutOff: Bool) {
        lock.withLock { outcome = (written, cutOff) }
        done.signal()
    }
    func wait() -> (written: Int, cutOff: Bool) {
        done.wait()
        return lock.withLock { outcome }
    }
}

/// The lines a test handler was given, one per call.
final class HandlerLog: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [[UInt8]] = []
    func record(_ line: [UInt8]) { lock.withLock { seen.append(line) } }
    var lines: [[UInt8]] { lock.withLock { seen } }
}

/// Holds test handlers until the harness lets them go, and counts how many run at once.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var running = 0
    private var most = 0
    private var passes = 0
    private var open = false

    /// Called by a handler: waits until let go (at most 10 s, so a check never hangs).
    func pass() {
        condition.lock()
        running += 1
        most = max(most, running)
        condition.broadcast()
        let deadline = Date().addingTimeInterval(10)
        while !open && passes == 0 && condition.wait(until: deadline) {}
        if passes > 0 { passes -= 1 }
        running -= 1
        condition.broadcast()
        condition.unlock()
    }

    func letOneGo() {
        condition.lock()
        passes += 1
        let before = running
        condition.broadcast()
        // Wait until that handler has left, so the next count is of the next state.
        let deadline = Date().addingTimeInterval(2)
        while running == before && condition.wait(until: deadline) {}
        condition.unlock()
    }

    func openForever() {
        condition.lock()
        open = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until `count` handlers are running (or `seconds` pass), then a moment more (a
    /// server without a cap would start more), and returns how many are running.
    func waitForRunning(_ count: Int, seconds: Double) -> Int {
        condition.lock()
        let deadline = Date().addingTimeInterval(seconds)
        while running < count && condition.wait(until: deadline) {}
        condition.unlock()
        Thread.sleep(forTimeInterval: 0.1)
        return condition.withLock { running }
    }

    var mostAtOnce: Int { condition.withLock { most } }
}

extension Hint {
    static let threadsServeEveryone = Hint("threads-serve-everyone", "Every client that connects must be handed to the handler once: accept in a loop, start a thread for each connection, and keep accepting.")
    static let threadsOwnConnection = Hint("threads-own-connection", "Give each handler the descriptor accept returned for that client, captured by value in the thread's closure: a variable shared between threads is overwritten by the next accept.")
    static let threadsCloseAfterHandler = Hint("threads-close-after-handler", "After handler(connection) returns, close the connection, on the handler's thread, exactly once: the client waits for its end-of-file.")
    static let threadsNoCap = Hint("threads-no-cap", "At `limit` running handlers, stop watching the listener: count the handlers (under a lock), and only poll the listener while the count is below the limit. The clients over the limit wait in the backlog.")
    static let threadsTooFew = Hint("threads-too-few", "Up to `limit` handlers must run at once: start a thread per connection and go straight back to accepting; do not wait for the handler to finish (that serves one client at a time).")
    static let threadsStopWaits = Hint("threads-stop-waits", "When the stop pipe is readable, stop accepting, then wait for the handlers still running (until the count is 0) before returning.")
    static let threadsStop = Hint("threads-stop", "Watch the stop pipe in the same poll as the listener: when it is readable, stop. A handler's thread that ends should wake the loop (a byte on a pipe of your own) so it never waits for nothing.")
    static let stopRead = Hint("stop-read", "Poll the stop pipe for POLLIN but never read from it: the byte is a signal for every server watching the pipe, not for one.")
    static let listenerClosed = Hint("listener-closed", "The listener is the caller's: close only the connections you accepted.")
    static let spinning = Hint("spinning", "A server with nothing to do must block: poll with a timeout of -1 (or the time until something is due), never in a loop that returns at once (a timeout of 0, or POLLOUT asked when nothing waits to be sent).")
    static let serverReturnedEarly = Hint("server-returned-early", "The server runs until the stop pipe is readable: one client leaving, failing, or an EAGAIN is no reason to return.")
    static let serverIgnoresErrors = Hint("server-ignores-errors", "When poll reports POLLNVAL or POLLERR on the listener, or accept fails with anything but EINTR, EAGAIN or ECONNABORTED, throw SocketError: a server that keeps trying a broken listener never ends.")
    static let serverErrorType = Hint("server-error-type", "Throw SocketError(call: \"accept\") or SocketError(call: \"poll\"), which carries errno: the caller can tell EBADF from ENOTSOCK.")
    static let pollLosesBytes = Hint("poll-loses-bytes", "send may take only part of a buffer: remove what it took, keep the rest for the next POLLOUT. And keep the bytes a recv brings even when some are still waiting to go out: append, never replace.")
    static let pollOwnBytes = Hint("poll-own-bytes", "Keep a buffer per connection (a dictionary from descriptor to bytes): what one client sends goes back to that client only.")
    static let pollSlowClientBlocks = Hint("poll-slow-client-blocks", "Every connection must be non-blocking (fcntl O_NONBLOCK), and a send that would block (EAGAIN) keeps the rest for later: one slow or silent client must never stop the loop.")
    static let pollNoPendingCap = Hint("poll-no-pending-cap", "A client that sends but does not read makes its buffer grow: when it would hold more than maxPending bytes, close that connection and drop its buffer.")
    static let pollClosesTheWrongClient = Hint("poll-closes-the-wrong-client", "Close only the connection at fault (a full buffer, a reset, an idle timeout): the others go on.")
    static let pollNoIdleTimeout = Hint("poll-no-idle-timeout", "Remember when each connection last had traffic; give poll a timeout that ends when the next one is due, and close the ones idle for idleTimeout seconds.")
    static let pollIdleWrongClock = Hint("poll-idle-wrong-clock", "A connection is idle when neither side has sent for idleTimeout seconds: reset its clock on every byte received or sent, and measure with a clock that only goes forward (CLOCK_MONOTONIC).")
    static let pollAlwaysPollout = Hint("poll-always-pollout", "Ask for POLLOUT only while a connection has bytes waiting to be sent: a socket can almost always be written, so asking always makes poll return at once, and the loop spins.")
    static let pollSpinsOnClosed = Hint("poll-spins-on-closed", "A connection whose peer has closed is always readable (recv returns 0 at once, again and again): close it, or stop asking for POLLIN on it once you have seen the 0.")
    static let pollHalfClose = Hint("poll-half-close", "recv returning 0 means the client will send no more, not that it stopped reading: send what is still pending, then close.")
    static let pollLeaks = Hint("poll-leaks", "Close a connection when its client resets or vanishes, when you drop it, and every one of them when you stop: each is a descriptor and a socket in the kernel.")
    static let pollStop = Hint("poll-stop", "Put the stop pipe in every poll (POLLIN); when it is readable, close your connections and return.")
}

extension Probe {
    /// "0.5 s", for a wait in a message.
    static func secondsText(_ value: Double) -> String {
        String(format: "%.1f s", value)
    }
}
