// Known-good: the thread server waits in select() (an fd_set built by hand) and caps its handlers with a condition variable, no wake pipe; the echo server keeps its connections in an array of structs, uses read/write (SIGPIPE ignored) and an offset into each buffer instead of removing what was sent.
// Lesson 7: many clients at once: a thread for each, then one thread and poll.
import Foundation
import SocketKit

public func serveWithThreads(_ listener: Int32, limit: Int, stop: Int32, handler: @escaping @Sendable (Int32) -> Void) throws {
    try checkListening(listener)
    let slots = Slots(limit: max(1, limit))
    // However this ends (stopped or failing), the handlers still running finish first.
    defer { slots.waitUntilNoneRunning() }
    while true {
        // At the limit, wait here for a handler to end: nothing is accepted meanwhile, so the
        // next clients stay in the listen backlog.
        slots.waitForRoom()
        let ready = try waitUntilReadable([stop, listener])
        if ready.contains(stop) { return }
        guard ready.contains(listener) else { continue }
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else {
            let code = errno
            if code == EINTR || code == ECONNABORTED || code == EAGAIN || code == EWOULDBLOCK { continue }
            throw SocketError(call: "accept", code: code)
        }
        slots.take()
        Thread {
            handler(connection)
            _ = close(connection)
            slots.give()
        }.start()
    }
}

public func serveEchoWithPoll(_ listener: Int32, stop: Int32, maxPending: Int, idleTimeout: Double) throws {
    try checkListening(listener)
    signal(SIGPIPE, SIG_IGN)  // write() to a reset connection must fail with EPIPE, not kill us

    struct Connection {
        let fd: Int32
        var outgoing: [UInt8] = []
        var sent = 0  // outgoing[..<sent] has gone already
        var lastTraffic: Double
        var peerDone = false
        var owed: Int { outgoing.count - sent }
    }
    var connections: [Connection] = []
    defer { connections.forEach { _ = close($0.fd) } }
    let idle = idleTimeout.isNaN ? 0 : max(0, idleTimeout)
    var scratch = [UInt8](repeating: 0, count: 32_768)

    /// One round of reading and writing for a connection poll woke; false: close it.
    func serve(_ connection: inout Connection, _ revents: Int16) -> Bool {
        if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0, !connection.peerDone {
            let got = scratch.withUnsafeMutableBytes { read(connection.fd, $0.baseAddress, $0.count) }
            if got > 0 {
                guard connection.owed + got <= maxPending else { return false }
                connection.outgoing.append(contentsOf: scratch[0..<got])
                connection.lastTraffic = secondsNow()
            } else if got == 0 {
                connection.peerDone = true
            } else if errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK {
                return false
            }
        }
        if connection.owed > 0 {
            let (fd, start) = (connection.fd, connection.sent)
            let wrote = connection.outgoing.withUnsafeBytes { write(fd, $0.baseAddress! + start, $0.count - start) }
            if wrote > 0 {
                connection.sent += wrote
                connection.lastTraffic = secondsNow()
                if connection.owed == 0 {
                    connection.outgoing.removeAll(keepingCapacity: true)
                    connection.sent = 0
                } else if connection.sent >= 1 << 16 {
                    connection.outgoing.removeFirst(connection.sent)
                    connection.sent = 0
                }
            } else if wrote < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK {
                return false
            }
        }
        return !(connection.peerDone && connection.owed == 0)
    }

    while true {
        let now = secondsNow()
        connections.removeAll { connection in
            guard now - connection.lastTraffic >= idle else { return false }
            _ = close(connection.fd)
            return true
        }
        var timeout: Int32 = -1
        if let due = connections.map({ $0.lastTraffic + idle }).min() {
            timeout = Int32(min(86_400_000, max(0, ((due - now) * 1000).rounded(.up))))
        }
        var watched = [pollfd(fd: stop, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        for connection in connections {
            let events = (connection.peerDone ? 0 : Int16(POLLIN)) | (connection.owed > 0 ? Int16(POLLOUT) : 0)
            watched.append(pollfd(fd: connection.fd, events: events, revents: 0))
        }
        if poll(&watched, nfds_t(watched.count), timeout) < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if watched[0].revents != 0 { return }
        var finished: [Int] = []
        for index in connections.indices where watched[index + 2].revents != 0 {
            if !serve(&connections[index], watched[index + 2].revents) { finished.append(index) }
        }
        for index in finished.reversed() {
            _ = close(connections[index].fd)
            connections.remove(at: index)
        }
        if watched[1].revents & Int16(POLLNVAL) != 0 { throw SocketError(call: "poll", code: EBADF) }
        if watched[1].revents != 0 {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                let code = errno
                if ![EINTR, EAGAIN, EWOULDBLOCK, ECONNABORTED].contains(code) { throw SocketError(call: "accept", code: code) }
            } else if fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 {
                _ = close(fd)
            } else {
                connections.append(Connection(fd: fd, lastTraffic: secondsNow()))
            }
        }
    }
}

/// SO_ACCEPTCONN: a closed number or a pipe fails getsockopt; 0 is a socket that does not listen.
private func checkListening(_ fd: Int32) throws {
    var value: Int32 = 0
    var size = socklen_t(MemoryLayout<Int32>.size)
    if getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &size) != 0 { throw SocketError(call: "getsockopt") }
    if value == 0 { throw SocketError(call: "listen", code: EINVAL) }
}

/// Blocks (no timeout) until one of `fds` is readable, in select() when every number fits in
/// an fd_set (FD_SET and FD_ZERO are macros Swift does not import: the bits are set by hand),
/// in poll otherwise.
private func waitUntilReadable(_ fds: [Int32]) throws -> Set<Int32> {
    while true {
        if fds.allSatisfy({ $0 >= 0 && $0 < 1024 }) {
            var set = fd_set()
            withUnsafeMutableBytes(of: &set) { bits in
                for index in bits.indices { bits[index] = 0 }
                for fd in fds { bits[Int(fd) / 8] |= UInt8(1) << UInt8(fd % 8) }
            }
            if select(fds.max()! + 1, &set, nil, nil, nil) < 0 {
                if errno == EINTR { continue }
                throw SocketError(call: "select")
            }
            return Set(fds.filter { fd in withUnsafeBytes(of: &set) { $0[Int(fd) / 8] & (UInt8(1) << UInt8(fd % 8)) != 0 } })
        }
        var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        if poll(&entries, nfds_t(entries.count), -1) < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if entries.contains(where: { $0.revents & Int16(POLLNVAL) != 0 }) { throw SocketError(call: "poll", code: EBADF) }
        return Set(entries.filter { $0.revents != 0 }.map(\.fd))
    }
}

private func secondsNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

/// How many handlers run, and a condition the loop waits on for room.
private final class Slots: @unchecked Sendable {
    private let condition = NSCondition()
    private let limit: Int
    private var running = 0
    init(limit: Int) { self.limit = limit }

    func waitForRoom() {
        condition.lock()
        while running >= limit { condition.wait() }
        condition.unlock()
    }

    func take() { condition.withLock { running += 1 } }

    func give() {
        condition.lock()
        running -= 1
        condition.broadcast()
        condition.unlock()
    }

    func waitUntilNoneRunning() {
        condition.lock()
        while running > 0 { condition.wait() }
        condition.unlock()
    }
}
