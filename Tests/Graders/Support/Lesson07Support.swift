import Foundation
import GradingHarness
import SocketKit

/// A learner's server function (lesson 7) running on a thread of its own, as a program
/// would run it: on a listener the harness made, told to stop through a pipe.
///
/// The harness keeps the listener and both ends of the stop pipe; the learner's function
/// must close only what it accepted.
final class RunningServer: @unchecked Sendable {
    let listener: HarnessSocket
    let address: SocketAddress
    let stopRead: Int32
    private let stopWrite: Int32
    private var thread: LearnerThread!

    /// Starts `body(listener, stop)` on a new thread (a LearnerThread: a stale errno first, a
    /// stub's NotStarted thrown here).
    ///
    /// `socketBuffers` sets SO_RCVBUF and SO_SNDBUF on the listener, which the connections it
    /// accepts inherit: with small buffers the kernel holds little, so what a client could
    /// write measures what the server itself kept.
    /// `sendBuffer` sets SO_SNDBUF alone (lesson 8 measures what the kernel holds for a
    /// client that does not read).
    init(
        _ random: SeededGenerator, host: String = "127.0.0.1", socketBuffers: Int32? = nil, sendBuffer: Int32? = nil,
        body: @escaping @Sendable (Int32, Int32) throws -> Void
    ) throws {
        listener = try HarnessSocket.listener(host: host, backlog: 128, ownsAccepted: false)
        if let socketBuffers {
            try listener.setOption(SOL_SOCKET, SO_RCVBUF, socketBuffers, "SO_RCVBUF")
            try listener.setOption(SOL_SOCKET, SO_SNDBUF, socketBuffers, "SO_SNDBUF")
        }
        if let sendBuffer { try listener.setOption(SOL_SOCKET, SO_SNDBUF, sendBuffer, "SO_SNDBUF") }
        address = try listener.localAddress
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw SocketError(call: "pipe") }
        (stopRead, stopWrite) = (ends[0], ends[1])
        let (listenerFD, stop) = (listener.fd, stopRead)
        thread = try LearnerThread(random, name: "server", cleanUp: { closeDescriptors() }) { try body(listenerFD, stop) }
    }

    /// How it ended; nil while it runs.
    var result: Result<Void, any Error>? { thread.result }

    /// Processor time the server's thread has used so far (nil once it has ended).
    var cpuSeconds: Double? { thread.cpuSeconds }

    /// See LearnerThread.cpuWhileWaiting.
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

    init(_ address: SocketAddress, number: Int, transcript: Transcript, receiveBuffer: Int32? = nil, sendBuffer: Int32? = nil) throws {
        // A small receive buffer must be set before connecting to take effect on the window.
        if let receiveBuffer {
            let socket = try HarnessSocket.make(address.family)
            try socket.setOption(SOL_SOCKET, SO_RCVBUF, receiveBuffer, "SO_RCVBUF")
            if let sendBuffer { try socket.setOption(SOL_SOCKET, SO_SNDBUF, sendBuffer, "SO_SNDBUF") }
            try Inspect.connect(socket.fd, to: address, seconds: 2)
            self.socket = socket
        } else {
            socket = try HarnessSocket.connect(to: address, seconds: 2)
        }
        self.transcript = transcript
        connection = transcript.open("client \(number) -> server")
    }

    /// Writes all of `bytes`, waiting at most `seconds` for the server to make room: a server
    /// that stops reading must fail the check, not hang it. False when not all of them went
    /// (the server stopped reading, or reset the connection: EPIPE, ECONNRESET).
    @discardableResult
    func send(_ bytes: [UInt8], seconds: Double = 2) throws -> Bool {
        let deadline = Clock.now + seconds
        var offset = 0
        defer {
            let sent = Array(bytes.prefix(offset))
            transcript.record(connection, sent.count > 4096 ? .bulk(from: .harness, bytes: sent, reads: 1) : .bytes(from: .harness, sent))
        }
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                SocketKit.send(socket.fd, raw.baseAddress! + offset, raw.count - offset, sendNoSignal | Int32(MSG_DONTWAIT))
            }
            if written >= 0 {
                offset += written
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                guard Clock.now < deadline, Inspect.waitWritable(socket.fd, seconds: deadline - Clock.now) else { return false }
            } else if errno == EPIPE || errno == ECONNRESET {
                transcript.record(connection, .reset(by: .learner))
                return false
            } else if errno != EINTR {
                throw SocketError(call: "send")
            }
        }
        return true
    }

    /// Reads until `count` bytes have come, the server closes (or resets), or `seconds` pass.
    func receive(_ count: Int, seconds: Double) throws -> (bytes: [UInt8], closed: Bool) {
        let deadline = Clock.now + seconds
        var bytes: [UInt8] = []
        var reads = 0
        func record(_ end: WireEvent?) {
            if !bytes.isEmpty {
                transcript.record(connection, bytes.count > 4096 ? .bulk(from: .learner, bytes: bytes, reads: reads) : .bytes(from: .learner, bytes))
            }
            if let end { transcript.record(connection, end) }
        }
        while bytes.count < count {
            let chunk: [UInt8]?
            do {
                chunk = try socket.receive(limit: min(count - bytes.count, 65_536), seconds: max(0, deadline - Clock.now))
            } catch let error where error.code == ECONNRESET {
                record(.reset(by: .learner))
                return (bytes, true)
            }
            guard let chunk else { break }
            if chunk.isEmpty {
                record(.closed(by: .learner))
                return (bytes, true)
            }
            bytes += chunk
            reads += 1
        }
        record(nil)
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

/// What the lesson 7 checks share.
enum Lesson07Grading {
    static func describe(_ result: Result<Void, any Error>) -> String {
        switch result {
        case .success: return "returned normally"
        case .failure(let error): return "threw \(error)"
        }
    }

    /// Where a check's listener lives: 127.0.0.1, another address of 127.0.0.0/8 (all of it
    /// is loopback on Linux), or ::1. A server must not care.
    static func host(_ random: SeededGenerator) -> String {
        switch random.int(in: 0...2) {
        case 0: return "127.0.0.1"
        case 1: return "127.\(random.int(in: 0...255)).\(random.int(in: 0...255)).\(random.int(in: 1...254))"
        default: return "::1"
        }
    }

    /// The failure for a server that returned while it should still be serving. A stub's
    /// NotStarted comes back as it is: on a busy machine the stub may throw after
    /// RunningServer's first look (50 ms), and that is still "not started", not a mistake.
    static func returnedEarly(_ result: Result<Void, any Error>, probe: Probe, while situation: String) -> any Error {
        if case .failure(let error as NotStarted) = result { return error }
        return probe.fail(expected: "the server to keep running until the stop pipe is readable", actual: "it \(describe(result)) while \(situation), with no stop byte written", hint: .serverReturnedEarly)
    }

    /// Writes the stop byte: `function` must return normally within 1 s.
    static func expectReturnOnStop(_ probe: Probe, _ server: RunningServer, _ function: String, hint: Hint) throws {
        // Let the server settle into its wait first: one that looks at the stop pipe only
        // between rounds (a poll of its own with a zero timeout) would otherwise often see
        // the byte by luck, before it went back to waiting without it.
        Thread.sleep(forTimeInterval: 0.15)
        server.requestStop()
        guard let result = server.waitForReturn(1) else {
            throw probe.fail(expected: "\(function) to return within 1 s of the stop byte", actual: "it was still running", hint: hint)
        }
        if case .failure(let error) = result {
            throw probe.fail(expected: "\(function) to return normally when stopped", actual: "it threw \(error)", hint: hint)
        }
    }

    /// A failure seen from a client, unless the server has returned meanwhile: then that is
    /// the mistake to name (rule 6), not what the client saw because of it.
    static func fail(_ probe: Probe, _ server: RunningServer, while situation: String, expected: String, actual: String, hint: Hint) -> any Error {
        if let result = server.result { return returnedEarly(result, probe: probe, while: situation) }
        return probe.fail(expected: expected, actual: actual, hint: hint)
    }

    /// Which mistake a wrong echo shows. Bytes another client sent (or more bytes than this
    /// one sent): a buffer shared between connections. This client's own bytes with a piece
    /// missing: bytes lost between reads, or after a short send.
    static func echoHint(received: [UInt8], sent: [UInt8], others: [[UInt8]]) -> Hint {
        let common = min(received.count, sent.count)
        let offset = received.withUnsafeBufferPointer { got in
            sent.withUnsafeBufferPointer { want in (0..<common).first { got[$0] != want[$0] } }
        } ?? common
        guard offset < received.count else { return .pollLosesBytes }  // right so far: the rest is missing
        let window = Array(received[offset..<min(received.count, offset + 16)])
        if window.count >= 4, others.contains(where: { contains($0, window) }) { return .pollOwnBytes }
        return received.count > sent.count ? .pollOwnBytes : .pollLosesBytes
    }

    /// True when `needle` occurs in `haystack` (a plain search over raw buffers: payloads run
    /// to hundreds of kilobytes, and this is a debug build).
    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        return haystack.withUnsafeBufferPointer { hay in
            needle.withUnsafeBufferPointer { pin in
                (0...(hay.count - pin.count)).contains { start in
                    hay[start] == pin[0] && memcmp(hay.baseAddress! + start, pin.baseAddress!, pin.count) == 0
                }
            }
        }
    }

    /// True when `bytes` equal `expected` (memcmp: long payloads, debug build).
    static func same(_ bytes: [UInt8], _ expected: ArraySlice<UInt8>) -> Bool {
        GradingHarness.difference(expected: Array(expected), actual: bytes) == nil
    }

    /// How many connections wait in the listener's accept queue, read from the kernel
    /// (TCP_INFO's tcpi_unacked on a socket in LISTEN); nil where it cannot be read.
    static func acceptQueue(_ fd: Int32) -> Int? {
        #if os(Linux)
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0, info.tcpi_state == 10 else { return nil }
        return Int(info.tcpi_unacked)
        #else
        return nil
        #endif
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
        // A stale errno that is none of the right answers: an error made from it shows.
        let stale = probe.random.pick([EINTR, EAGAIN, EBADF, ECONNREFUSED, EINVAL].filter { !codes.contains($0) })
        let stopWrite = ends[1]
        // Blocked or going round past 2 s: poll on something that never becomes ready. The
        // stop pipe unblocks it, as a caller would.
        let measured = try probe.measure(
            "the server on \(situation)", seconds: 2,
            unblock: {
                var byte: UInt8 = 1
                _ = write(stopWrite, &byte, 1)
            },
            blockedHint: .serverIgnoresErrors, spinningHint: .serverIgnoresErrors
        ) {
            errno = stale
            try body(stop)
        }
        switch measured.result {
        case .success:
            throw probe.fail(expected: expected, actual: "it returned without throwing", hint: .serverIgnoresErrors)
        case .failure(let error as SocketError):
            guard codes.contains(error.code) else {
                // errno as it was before the call: read too early (or too late). Anything else:
                // the listener check's own errors told apart wrongly.
                let hint: Hint = error.code == stale && !codes.contains(EINVAL) ? .errnoLate : .listenerCheckErrors
                throw probe.fail(expected: expected, actual: "it threw \(error)\(error.code == stale ? " (the errno this thread had before the call: \(errnoName(stale)))" : "")", hint: hint)
            }
        case .failure(let error as NotStarted):
            throw error
        case .failure(let error):
            throw probe.fail(expected: expected, actual: "it threw \(error)", hint: .serverErrorType)
        }
    }

    /// Starts a server, lets `serve` talk to it through one client, then shuts the listener
    /// down under it (SHUT_RD or SHUT_RDWR: accept then fails with EINVAL, and poll reports
    /// the listener readable for ever). The server must throw a SocketError naming accept or
    /// poll within 1 s: not return, not block, not go round and round. Returns the client,
    /// still connected from the client's side, for the caller's own checks.
    static func expectThrowWhenTheListenerBreaks(
        _ probe: Probe, server: RunningServer, serve: (EchoClient) throws -> Void
    ) throws -> EchoClient {
        let client = try EchoClient(server.address, number: 1, transcript: probe.transcript)
        try serve(client)
        if let result = server.result { throw returnedEarly(result, probe: probe, while: "a client was being served") }
        let how = probe.random.pick([ShutdownHow.read, ShutdownHow.both])
        _ = shutdown(server.listener.fd, how)
        probe.transcript.note("the harness shut the listener down (\(how == ShutdownHow.read ? "SHUT_RD" : "SHUT_RDWR")) while the server was running: accept now fails with EINVAL")
        let expected = "a SocketError naming accept (EINVAL) or poll within 1 s of the listener's shutdown"
        guard let result = server.waitForReturn(1) else {
            let used = server.cpuWhileWaiting(0.2)
            throw probe.fail(expected: expected, actual: "it was still running 1 s later, \(used > 0.02 ? "using the processor (accept failing again and again)" : "blocked")", hint: .serverIgnoresErrors)
        }
        switch result {
        case .success:
            throw probe.fail(expected: expected, actual: "it returned without throwing", hint: .serverIgnoresErrors)
        case .failure(let error as SocketError) where ["accept", "poll"].contains(error.call):
            return client
        case .failure(let error as SocketError):
            throw probe.fail(expected: expected, actual: "it threw \(error)", hint: .serverIgnoresErrors)
        case .failure(let error):
            throw probe.fail(expected: expected, actual: "it threw \(error)", hint: .serverErrorType)
        }
    }

    /// A client that writes as fast as it can and never reads, on a thread of its own,
    /// until the server disconnects it, it has written `limit` bytes, or `seconds` pass.
    /// Past `limit` it writes a byte at a time for a moment more (a server that closed it
    /// answers the next one with a reset): memory stays bounded even with a server that
    /// keeps everything.
    static func flood(_ client: EchoClient, limit: Int, seconds: Double) -> Flood {
        let flood = Flood()
        let fd = client.socket.fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        Thread {
            let chunk = [UInt8](repeating: 0x61, count: 16_384)
            var deadline = Clock.now + seconds
            var written = 0
            var cutOff = false
            while Clock.now < deadline {
                let size = written < limit ? chunk.count : 1
                let sent = chunk.withUnsafeBytes { send(fd, $0.baseAddress, size, sendNoSignal) }
                if sent > 0 {
                    written += sent
                    if written >= limit {
                        if size > 1 { deadline = min(deadline, Clock.now + 0.3) }
                        Thread.sleep(forTimeInterval: 0.02)
                    }
                    continue
                }
                if sent < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                    // Full: wait for room, or for the server to cut us off.
                    var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&entry, 1, 50)
                    if entry.revents & Int16(POLLERR | POLLHUP) != 0 { cutOff = true; break }
                    continue
                }
                if sent < 0, errno == EINTR { continue }
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

/// What a test handler was given, one entry per call: the line it read, and what its
/// descriptor was (the peer's address when it is a connection).
final class HandlerLog: @unchecked Sendable {
    struct Call {
        let line: [UInt8]
        let peer: SocketAddress?
        let described: String
        /// The descriptor named the same socket from the handler's start to its end: it was
        /// not closed (nor its number reused) while the handler still ran.
        let intact: Bool
    }
    private let lock = NSLock()
    private var seen: [Call] = []
    func record(_ call: Call) { lock.withLock { seen.append(call) } }
    var calls: [Call] { lock.withLock { seen } }
}

/// Holds test handlers until the harness lets them go, and counts how many run at once.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var running = 0
    private var most = 0
    private var passes = 0
    private var left = 0
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
        left += 1
        condition.broadcast()
        condition.unlock()
    }

    func letOneGo() {
        condition.lock()
        passes += 1
        let target = left + 1
        condition.broadcast()
        // Wait until that handler has left (counted by departures: the server may start the
        // next one at once, so the running count alone can look unchanged).
        let deadline = Date().addingTimeInterval(2)
        while left < target && condition.wait(until: deadline) {}
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
        // A moment more, for handlers past the count: a server with no cap starts one as soon
        // as it accepts (and the listen queue, read from the kernel, shows those accepts at once).
        Thread.sleep(forTimeInterval: 0.05)
        return condition.withLock { running }
    }

    var mostAtOnce: Int { condition.withLock { most } }
}

/// The close counts of the handlers' connections (one per handler call), and the threads
/// that ran them.
final class CloseCounts: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [CloseCount] = []
    private var threads: [String] = []

    /// Called by a handler, on the server's thread for it: counts that thread's closes of
    /// `fd` from now on, while `body` runs and after it returns.
    func watch(_ fd: Int32, _ body: () -> Void) {
        let count = CloseCount(fd)
        let thread = Self.currentThread()
        lock.withLock {
            counts.append(count)
            if let thread { threads.append(thread) }
        }
        count.watch(body)
    }

    var all: [CloseCount] { lock.withLock { counts } }

    /// Waits (at most `seconds`) until the handlers' threads have ended: whatever they were
    /// to close after the handler (a second close in a defer, too) has been closed by then.
    /// A thread that lives on (a pool) is waited for no longer than that.
    func waitForTheirThreads(seconds: Double) {
        let paths = lock.withLock { threads }.map { "/proc/self/task/\($0)" }
        let deadline = Clock.now + seconds
        while Clock.now < deadline, paths.contains(where: { FileManager.default.fileExists(atPath: $0) }) {
            Thread.sleep(forTimeInterval: 0.005)
        }
        if paths.isEmpty { Thread.sleep(forTimeInterval: 0.1) }  // no /proc: a moment, then count
    }

    /// The calling thread's id, from /proc/thread-self ("PID/task/TID"), on Linux.
    private static func currentThread() -> String? {
        var buffer = [UInt8](repeating: 0, count: 64)
        let length = buffer.withUnsafeMutableBytes { readlink("/proc/thread-self", $0.baseAddress!.assumingMemoryBound(to: CChar.self), 63) }
        guard length > 0 else { return nil }
        return String(decoding: buffer[..<length], as: UTF8.self).split(separator: "/").last.map(String.init)
    }
}

extension Hint {
    static let threadsServeEveryone = Hint("threads-serve-everyone", "Every client that connects must be handed to the handler once: accept in a loop, start a thread for each connection, and keep accepting.")
    static let threadsOwnConnection = Hint("threads-own-connection", "Give each handler the descriptor accept returned for that client, captured by value in the thread's closure: a variable shared between threads is overwritten by the next accept.")
    static let threadsCloseAfterHandler = Hint("threads-close-after-handler", "After handler(connection) returns, close the connection, on the handler's thread, exactly once: the client waits for its end-of-file.")
    static let threadsNoCap = Hint("threads-no-cap", "At `limit` running handlers, stop watching the listener: count the handlers (under a lock), and only poll the listener while the count is below the limit. The clients over the limit wait in the backlog.")
    static let threadsMakeRoom = Hint("threads-make-room", "When a handler returns, the room it leaves must be used: take one off the count (under the lock) and wake the loop (a byte on a pipe of your own), so that it watches the listener again and the next client in the backlog is served.")
    static let threadsTooFew = Hint("threads-too-few", "Up to `limit` handlers must run at once: start a thread per connection and go straight back to accepting; do not wait for the handler to finish (that serves one client at a time).")
    static let threadsStopWaits = Hint("threads-stop-waits", "When the stop pipe is readable, stop accepting, then wait for the handlers still running (until the count is 0) before returning.")
    static let threadsStop = Hint("threads-stop", "Watch the stop pipe in the same poll as the listener: when it is readable, stop. A handler's thread that ends should wake the loop (a byte on a pipe of your own) so it never waits for nothing.")
    static let stopRead = Hint("stop-read", "Poll the stop pipe for POLLIN but never read from it: the byte is a signal for every server watching the pipe, not for one.")
    static let listenerClosed = Hint("listener-closed", "The listener is the caller's: close only the connections you accepted.")
    static let spinning = Hint("spinning", "A server with nothing to do must block: poll with a timeout of -1 (or the time until something is due), never in a loop that returns at once (a timeout of 0, or POLLOUT asked when nothing waits to be sent).")
    static let serverReturnedEarly = Hint("server-returned-early", "The server runs until the stop pipe is readable: one client leaving, failing, or an EAGAIN is no reason to return.")
    static let serverIgnoresErrors = Hint("server-ignores-errors", "When poll reports POLLNVAL or POLLERR on the listener, or accept fails with anything but EINTR, EAGAIN or ECONNABORTED, throw SocketError: a server that keeps trying a broken listener never ends.")
    static let listenerCheckErrors = Hint("listener-check-errors", "Tell the listener's problems apart: when getsockopt(SO_ACCEPTCONN) fails, throw SocketError(call: \"getsockopt\") at once, with its errno (EBADF for a closed number, ENOTSOCK for a pipe); when it succeeds and reads 0, errno means nothing: throw SocketError(call: \"listen\", code: EINVAL).")
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
