// Known-good: handlers run on pthread_create threads that send a ticket over a datagram socketpair when done; the loop keeps the count itself (no lock), joins finished threads, and at stop joins the rest. The echo server makes the listener non-blocking and accepts until EAGAIN, reads and writes each connection until EAGAIN, and keeps the bytes owed in Foundation Data.
// Lesson 7: many clients at once: a thread for each, then one thread and poll.
import Foundation
import SocketKit

public func serveWithThreads(_ listener: Int32, limit: Int, stop: Int32, handler: @escaping @Sendable (Int32) -> Void) throws {
    try mustListen(listener)
    var pair: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0, &pair) == 0 else { throw SocketError(call: "socketpair") }
    let (tickets, doneEnd) = (pair[0], pair[1])
    var live: [Int: pthread_t] = [:]  // ticket -> thread, for the threads not joined yet
    var nextTicket = 0
    defer {
        // Whatever ends the loop, the handlers still running finish before we return.
        for thread in live.values { pthread_join(thread, nil) }
        _ = close(tickets)
        _ = close(doneEnd)
    }

    /// Joins the threads whose tickets have come (they have ended, or are about to).
    func collectTickets() {
        var ticket = 0
        while recv(tickets, &ticket, MemoryLayout<Int>.size, Int32(MSG_DONTWAIT)) == MemoryLayout<Int>.size {
            if let thread = live.removeValue(forKey: ticket) { pthread_join(thread, nil) }
        }
    }

    while true {
        let below = live.count < max(1, limit)
        var fds = [pollfd(fd: stop, events: Int16(POLLIN), revents: 0), pollfd(fd: tickets, events: Int16(POLLIN), revents: 0)]
        if below { fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
        if poll(&fds, nfds_t(fds.count), -1) < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if fds[0].revents != 0 { return }
        if fds[1].revents != 0 { collectTickets() }
        guard below, fds[2].revents != 0 else { continue }
        guard fds[2].revents & Int16(POLLNVAL) == 0 else { throw SocketError(call: "poll", code: EBADF) }
        let connection = accept(listener, nil, nil)
        if connection < 0 {
            let code = errno
            if code == EINTR || code == ECONNABORTED || code == EAGAIN || code == EWOULDBLOCK { continue }
            throw SocketError(call: "accept", code: code)
        }
        let ticket = nextTicket
        nextTicket += 1
        let job = Job {
            handler(connection)
            _ = close(connection)
            var mine = ticket
            _ = send(doneEnd, &mine, MemoryLayout<Int>.size, 0)
        }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(job).toOpaque()
        guard pthread_create(&thread, nil, { raw in
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().work()
            return nil
        }, context) == 0 else {
            Unmanaged<Job>.fromOpaque(context).release()
            _ = close(connection)
            continue
        }
        live[ticket] = thread
    }
}

public func serveEchoWithPoll(_ listener: Int32, stop: Int32, maxPending: Int, idleTimeout: Double) throws {
    try mustListen(listener)
    // The listener is ours to make non-blocking: accept until EAGAIN empties the queue.
    _ = fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK)
    var owed: [Int32: Data] = [:]
    var heard: [Int32: Double] = [:]
    var ended: Set<Int32> = []
    defer { for fd in owed.keys { _ = close(fd) } }
    let idle = idleTimeout.isNaN ? 0 : max(0, idleTimeout)
    var chunk = [UInt8](repeating: 0, count: 16_384)

    func forget(_ fd: Int32) {
        _ = close(fd)
        owed[fd] = nil
        heard[fd] = nil
        ended.remove(fd)
    }

    /// Reads until EAGAIN (a few rounds at most, to be fair to the others); false: close it.
    func readAll(_ fd: Int32) -> Bool {
        for _ in 0..<8 {
            let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got > 0 {
                heard[fd] = clockSeconds()
                if owed[fd]!.count + got > maxPending { return false }
                owed[fd]!.append(contentsOf: chunk[0..<got])
            } else if got == 0 {
                ended.insert(fd)
                return true
            } else {
                return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK
            }
        }
        return true
    }

    /// Writes until EAGAIN or nothing is owed; false: close it.
    func writeAll(_ fd: Int32) -> Bool {
        while let bytes = owed[fd], !bytes.isEmpty {
            let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
            if sent > 0 {
                owed[fd] = bytes.count == sent ? Data() : bytes.subdata(in: bytes.startIndex + sent..<bytes.endIndex)
                heard[fd] = clockSeconds()
            } else {
                return sent < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            }
        }
        return true
    }

    while true {
        let now = clockSeconds()
        for (fd, last) in heard where now - last >= idle { forget(fd) }
        let wait = heard.values.min().map { Int32(min(86_400_000, max(0, (($0 + idle - now) * 1000).rounded(.up)))) } ?? -1
        let order = Array(owed.keys)
        var fds = [pollfd(fd: stop, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        for fd in order {
            let events = (ended.contains(fd) ? 0 : Int16(POLLIN)) | (owed[fd]!.isEmpty ? 0 : Int16(POLLOUT))
            fds.append(pollfd(fd: fd, events: events, revents: 0))
        }
        if poll(&fds, nfds_t(fds.count), wait) < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if fds[0].revents != 0 { return }
        for (offset, fd) in order.enumerated() where fds[offset + 2].revents != 0 {
            let revents = fds[offset + 2].revents
            var fine = true
            if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0, !ended.contains(fd) { fine = readAll(fd) }
            if fine { fine = writeAll(fd) }
            if !fine || (ended.contains(fd) && owed[fd]!.isEmpty) { forget(fd) }
        }
        if fds[1].revents & Int16(POLLNVAL) != 0 { throw SocketError(call: "poll", code: EBADF) }
        guard fds[1].revents != 0 else { continue }
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK { break }
                if code == EINTR || code == ECONNABORTED { continue }
                throw SocketError(call: "accept", code: code)
            }
            guard fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 else {
                _ = close(fd)
                continue
            }
            owed[fd] = Data()
            heard[fd] = clockSeconds()
        }
    }
}

/// What a handler's thread runs, handed to pthread_create as a retained pointer.
private final class Job: @unchecked Sendable {
    let work: () -> Void
    init(_ work: @escaping () -> Void) { self.work = work }
}

private func mustListen(_ fd: Int32) throws {
    var on: Int32 = 0
    var size = socklen_t(MemoryLayout.size(ofValue: on))
    let result = getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &size)
    if result != 0 { throw SocketError(call: "getsockopt") }
    if on == 0 { throw SocketError(call: "listen", code: EINVAL) }
}

private func clockSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
