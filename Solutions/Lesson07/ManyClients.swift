// Lesson 7: many clients at once: a thread for each, then one thread and poll.
// Reference answer. Read Lessons/07-many-clients.md first.
import Foundation
import SocketKit

/// Serves every client that connects to `listener`: each connection is handed to `handler`
/// on a thread of its own, with at most `limit` handlers running at once.
/// (The full contract is in Exercises/Lesson07/ManyClients.swift.)
public func serveWithThreads(_ listener: Int32, limit: Int, stop: Int32, handler: @escaping @Sendable (Int32) -> Void) throws {
    try requireListening(listener)
    // Each handler's thread writes a byte here when it ends, so that poll wakes up and the
    // loop sees that there is room again: no timer, no busy waiting.
    let wake = try Pipe()
    defer { wake.close() }
    let running = RunningCount()

    defer {
        // Stopping (or failing): wait for the handlers still running. Each one that ends
        // writes to the wake pipe; poll on it alone until the count is zero.
        while running.value > 0 {
            var entry = pollfd(fd: wake.readEnd, events: Int16(POLLIN), revents: 0)
            if poll(&entry, 1, -1) > 0 { wake.drain() }
        }
    }

    while true {
        let roomForMore = running.value < max(limit, 1)
        var entries = [
            pollfd(fd: stop, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wake.readEnd, events: Int16(POLLIN), revents: 0),
        ]
        // At the limit the listener is not watched: new clients wait in the backlog.
        if roomForMore { entries.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
        let ready = poll(&entries, nfds_t(entries.count), -1)
        if ready < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if entries[0].revents != 0 { return }  // stop: never read it, others may watch it too
        if entries[1].revents != 0 { wake.drain() }
        guard roomForMore, entries[2].revents != 0 else { continue }
        if entries[2].revents & Int16(POLLNVAL) != 0 {
            errno = EBADF
            throw SocketError(call: "poll")
        }
        let connection = accept(listener, nil, nil)
        if connection < 0 {
            switch errno {
            case EINTR, ECONNABORTED, EAGAIN, EWOULDBLOCK: continue  // try again, or the client gave up
            default: throw SocketError(call: "accept")
            }
        }
        running.add(1)
        let thread = Thread {
            handler(connection)
            _ = close(connection)  // ours to close, exactly once, after the handler
            running.add(-1)
            wake.poke()
        }
        thread.start()
    }
}

/// Echoes every byte each client sends back to that client, for any number of clients at
/// once, on this one thread, with `poll`.
/// (The full contract is in Exercises/Lesson07/ManyClients.swift.)
public func serveEchoWithPoll(_ listener: Int32, stop: Int32, maxPending: Int, idleTimeout: Double) throws {
    try requireListening(listener)
    // Non-blocking, so that accepting until EAGAIN never waits (a client that gave up
    // between poll and accept would otherwise leave accept blocked, and everyone with it).
    let listenerFlags = fcntl(listener, F_GETFL)
    guard listenerFlags >= 0, fcntl(listener, F_SETFL, listenerFlags | O_NONBLOCK) == 0 else { throw SocketError(call: "fcntl") }
    /// One client: what it sent that is not sent back yet, and when it last did anything.
    struct Client {
        var pending: [UInt8] = []
        var lastActivity: Double
        /// It closed its end: send what is pending, then close.
        var finishing = false
    }
    var clients: [Int32: Client] = [:]
    defer { for fd in clients.keys { _ = close(fd) } }
    let idle = idleTimeout.isNaN ? 0 : max(idleTimeout, 0)
    var buffer = [UInt8](repeating: 0, count: 65_536)

    func drop(_ fd: Int32) {
        _ = close(fd)
        clients[fd] = nil
    }

    while true {
        // Who is due to be closed for idling, and how long until the next one is.
        let now = monotonicSeconds()
        for (fd, client) in clients where now - client.lastActivity >= idle { drop(fd) }
        let nextDue = clients.values.map { $0.lastActivity + idle - now }.min()
        let timeout = nextDue.map { Int32(min(max(($0 * 1000).rounded(.up), 0), 86_400_000)) } ?? -1

        // Rebuilt every time: POLLOUT only for a client with something to send, and POLLIN
        // only until its end-of-file (a closed end is always readable: poll would not wait).
        let order = Array(clients.keys)
        var entries = [
            pollfd(fd: stop, events: Int16(POLLIN), revents: 0),
            pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
        ]
        for fd in order {
            let client = clients[fd]!
            let wantsIn = client.finishing ? 0 : Int16(POLLIN)
            let wantsOut = client.pending.isEmpty ? 0 : Int16(POLLOUT)
            entries.append(pollfd(fd: fd, events: wantsIn | wantsOut, revents: 0))
        }
        let ready = poll(&entries, nfds_t(entries.count), timeout)
        if ready < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if entries[0].revents != 0 { return }
        if entries[1].revents & Int16(POLLNVAL) != 0 {
            errno = EBADF
            throw SocketError(call: "poll")
        }
        // Everyone waiting, not one per round: after a burst of connects the last client
        // would wait a round per client before its first byte was read (a few per round, so
        // the clients already here are not starved either).
        for _ in 0..<(entries[1].revents != 0 ? 64 : 0) {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { break }  // no one else waiting
                throw SocketError(call: "accept")
            }
            let flags = fcntl(connection, F_GETFL)
            if flags < 0 || fcntl(connection, F_SETFL, flags | O_NONBLOCK) < 0 {
                _ = close(connection)  // cannot be served without blocking the others
            } else {
                try? suppressSIGPIPE(on: connection)
                clients[connection] = Client(lastActivity: monotonicSeconds())
            }
        }
        for (index, fd) in order.enumerated() {
            let events = entries[index + 2].revents
            guard events != 0, var client = clients[fd] else { continue }
            var keep = true
            if events & Int16(POLLIN | POLLHUP | POLLERR) != 0, !client.finishing {
                let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if got > 0 {
                    client.lastActivity = monotonicSeconds()
                    if client.pending.count + got > maxPending {
                        keep = false  // it sends but does not read: it would grow without end
                    } else {
                        client.pending += buffer.prefix(got)
                    }
                } else if got == 0 {
                    client.finishing = true
                } else if errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK {
                    keep = false  // a reset or another error: this client only
                }
            }
            if keep, !client.pending.isEmpty {
                // Try now, not only on POLLOUT: usually there is room, and it saves a round.
                let sent = client.pending.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
                if sent > 0 {
                    client.pending.removeFirst(sent)
                    client.lastActivity = monotonicSeconds()
                } else if sent < 0, errno != EINTR, errno != EAGAIN, errno != EWOULDBLOCK {
                    keep = false
                }
            }
            if keep, client.finishing, client.pending.isEmpty { keep = false }
            if keep { clients[fd] = client } else { drop(fd) }
        }
    }
}

/// Throws unless `fd` is a listening socket: poll on anything else waits for ever.
private func requireListening(_ fd: Int32) throws {
    var listening: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 else { throw SocketError(call: "getsockopt") }
    guard listening != 0 else { throw SocketError(call: "listen", code: EINVAL) }
}

/// Seconds on a clock that only goes forward (not the wall clock, which can jump).
private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// A pipe used to wake `poll` from another thread.
private final class Pipe: Sendable {
    let readEnd: Int32
    let writeEnd: Int32

    init() throws {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw SocketError(call: "pipe") }
        readEnd = ends[0]
        writeEnd = ends[1]
        // Non-blocking both ways: a poke never blocks a handler's thread, a drain never
        // blocks the loop.
        for fd in ends { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    func poke() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    func drain() {
        var bytes = [UInt8](repeating: 0, count: 64)
        while bytes.withUnsafeMutableBytes({ read(readEnd, $0.baseAddress, $0.count) }) > 0 {}
    }

    func close() {
        _ = SocketKit.close(readEnd)
        _ = SocketKit.close(writeEnd)
    }
}

/// How many handlers are running, shared between the loop and the handlers' threads.
private final class RunningCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func add(_ change: Int) { lock.withLock { count += change } }
}
