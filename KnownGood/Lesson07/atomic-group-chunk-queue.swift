// Known-good: each handler runs a job object on a Thread of its own, counted with an Atomic and entered in a DispatchGroup that stop waits on (no loop at all); the echo server keeps a queue of received chunks per client (class instances in a dictionary), reads into Array(unsafeUninitializedCapacity:), and sweeps idle connections on a tick of a quarter of idleTimeout (no wait at all while there is none).
// Lesson 7: many clients at once: a thread for each, then one thread and poll.
import Dispatch
import Foundation
import SocketKit
import Synchronization

public func serveWithThreads(_ listener: Int32, limit: Int, stop: Int32, handler: @escaping @Sendable (Int32) -> Void) throws {
    try listeningOrThrow(listener)
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else { throw SocketError(call: "pipe") }
    for end in ends { _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK) }
    let shared = Shared(wake: ends[1])
    defer {
        shared.group.wait()  // every handler started has returned and closed its connection
        _ = close(ends[0])
        _ = close(ends[1])
    }
    var junk = [UInt8](repeating: 0, count: 32)
    while true {
        let room = shared.running.load(ordering: .acquiring) < max(limit, 1)
        var fds = [pollfd(fd: stop, events: Int16(POLLIN), revents: 0), pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)]
        if room { fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
        if poll(&fds, nfds_t(fds.count), -1) == -1 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if fds[0].revents != 0 { return }
        if fds[1].revents != 0 {
            while junk.withUnsafeMutableBytes({ read(ends[0], $0.baseAddress, $0.count) }) > 0 {}
        }
        if !room || fds[2].revents == 0 { continue }
        if fds[2].revents & Int16(POLLNVAL) != 0 { throw SocketError(call: "poll", code: EBADF) }
        let connection = accept(listener, nil, nil)
        if connection == -1 {
            switch errno {
            case EINTR, EAGAIN, EWOULDBLOCK, ECONNABORTED: continue
            default: throw SocketError(call: "accept")
            }
        }
        shared.running.add(1, ordering: .acquiringAndReleasing)
        shared.group.enter()
        let job = HandlerJob(connection: connection, handler: handler, shared: shared)
        Thread { job.run() }.start()
    }
}

/// What the loop and the handlers' threads share.
private final class Shared: Sendable {
    let running = Atomic<Int>(0)
    let group = DispatchGroup()
    let wake: Int32
    init(wake: Int32) { self.wake = wake }
}

/// One client's thread: the handler, then the close, then the count and a wake-up byte.
private final class HandlerJob: Sendable {
    let connection: Int32
    let handler: @Sendable (Int32) -> Void
    let shared: Shared

    init(connection: Int32, handler: @escaping @Sendable (Int32) -> Void, shared: Shared) {
        self.connection = connection
        self.handler = handler
        self.shared = shared
    }

    func run() {
        handler(connection)
        _ = SocketKit.close(connection)
        shared.running.subtract(1, ordering: .acquiringAndReleasing)
        var byte: UInt8 = 0
        _ = write(shared.wake, &byte, 1)
        shared.group.leave()
    }
}

public func serveEchoWithPoll(_ listener: Int32, stop: Int32, maxPending: Int, idleTimeout: Double) throws {
    try listeningOrThrow(listener)
    var clients: [Int32: EchoClient] = [:]
    defer { clients.keys.forEach { _ = close($0) } }
    let idle = idleTimeout.isNaN ? 0 : max(0, idleTimeout)
    let tick = max(idle / 4, 0.001)

    while true {
        let now = uptimeSeconds()
        for (fd, client) in clients where now - client.lastTraffic >= idle {
            _ = close(fd)
            clients.removeValue(forKey: fd)
        }
        // A tick while anyone is connected (each one closed at most a tick late), no timeout at all otherwise.
        let timeout: Int32 = clients.isEmpty ? -1 : Int32(min(86_400_000, (tick * 1000).rounded(.up)))
        var fds = [pollfd(fd: stop, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        let order = clients.keys.sorted()
        for fd in order {
            let client = clients[fd]!
            fds.append(pollfd(fd: fd, events: (client.readDone ? 0 : Int16(POLLIN)) | (client.queued > 0 ? Int16(POLLOUT) : 0), revents: 0))
        }
        let count = poll(&fds, nfds_t(fds.count), timeout)
        if count == -1 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if fds[0].revents != 0 { return }
        if fds[1].revents & Int16(POLLNVAL) != 0 { throw SocketError(call: "poll", code: EBADF) }
        for (position, fd) in order.enumerated() {
            let revents = fds[position + 2].revents
            guard revents != 0, let client = clients[fd] else { continue }
            if !client.pump(fd, revents, maxPending: maxPending) {
                _ = close(fd)
                clients.removeValue(forKey: fd)
            }
        }
        if fds[1].revents != 0 {
            let fd = accept(listener, nil, nil)
            if fd >= 0 {
                let flags = fcntl(fd, F_GETFL)
                if flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 {
                    clients[fd] = EchoClient(lastTraffic: uptimeSeconds())
                } else {
                    _ = close(fd)
                }
            } else if errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED {
                throw SocketError(call: "accept")
            }
        }
    }
}

/// One connection of the echo server: the chunks it sent, in order, not all sent back yet.
private final class EchoClient {
    private var chunks: [[UInt8]] = []
    private var offset = 0  // into chunks[0]
    private(set) var queued = 0
    var lastTraffic: Double
    var readDone = false

    init(lastTraffic: Double) { self.lastTraffic = lastTraffic }

    /// Moves bytes both ways once; false when the connection is to be closed.
    func pump(_ fd: Int32, _ revents: Int16, maxPending: Int) -> Bool {
        if !readDone, revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 {
            var failed = false
            let chunk = [UInt8](unsafeUninitializedCapacity: 8192) { buffer, initialized in
                let got = recv(fd, buffer.baseAddress, buffer.count, 0)
                failed = got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                initialized = max(got, 0)
                if got == 0 { readDone = true }
            }
            if failed { return false }
            if !chunk.isEmpty {
                lastTraffic = uptimeSeconds()
                queued += chunk.count
                if queued > maxPending { return false }
                chunks.append(chunk)
            }
        }
        while let first = chunks.first {
            let sent = first.withUnsafeBytes { raw in send(fd, raw.baseAddress! + offset, raw.count - offset, sendNoSignal) }
            if sent < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { break }
                return false
            }
            lastTraffic = uptimeSeconds()
            queued -= sent
            offset += sent
            if offset == first.count {
                chunks.removeFirst()
                offset = 0
            }
        }
        return !(readDone && queued == 0)
    }
}

private func listeningOrThrow(_ fd: Int32) throws {
    var answer: Int32 = -1
    var size = socklen_t(MemoryLayout<Int32>.stride)
    guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &answer, &size) == 0 else { throw SocketError(call: "getsockopt") }
    guard answer != 0 else { throw SocketError(call: "listen", code: EINVAL) }
}

private func uptimeSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + 1e-9 * Double(time.tv_nsec)
}
