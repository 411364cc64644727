// Known-good: the thread server's cap is a DispatchSemaphore taken before each accept (and all of it taken back at the end to wait for the handlers); the echo server keeps each client's bytes in a ring buffer of its own, reads and writes them with recvmsg/sendmsg over two iovecs, and sets O_NONBLOCK with ioctl(FIONBIO).
// Lesson 7: many clients at once: a thread for each, then one thread and poll.
import Dispatch
import Foundation
import SocketKit

public func serveWithThreads(_ listener: Int32, limit: Int, stop: Int32, handler: @escaping @Sendable (Int32) -> Void) throws {
    try ensureListening(listener)
    let slots = max(limit, 1)
    let free = DispatchSemaphore(value: slots)
    // Every slot back in hand means no handler is running: that is how stop waits for them.
    defer {
        for _ in 0..<slots { free.wait() }
        for _ in 0..<slots { free.signal() }
    }
    while true {
        free.wait()  // a slot for the next client; at the limit this waits, and nothing is accepted
        var holding = true
        defer { if holding { free.signal() } }
        var fds = [pollfd(fd: stop, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        let ready = poll(&fds, 2, -1)
        if ready < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if fds[0].revents != 0 { return }
        if fds[1].revents & Int16(POLLNVAL) != 0 { throw SocketError(call: "poll", code: EBADF) }
        if fds[1].revents == 0 { continue }
        let client = accept(listener, nil, nil)
        if client < 0 {
            let code = errno
            if code == EINTR || code == EAGAIN || code == EWOULDBLOCK || code == ECONNABORTED { continue }
            throw SocketError(call: "accept", code: code)
        }
        holding = false  // the handler's thread gives the slot back
        Thread {
            handler(client)
            _ = close(client)
            free.signal()
        }.start()
    }
}

public func serveEchoWithPoll(_ listener: Int32, stop: Int32, maxPending: Int, idleTimeout: Double) throws {
    try ensureListening(listener)
    var table: [Int32: Peer] = [:]
    defer { for fd in table.keys { _ = close(fd) } }
    let idle = idleTimeout.isNaN ? 0 : max(0, idleTimeout)

    while true {
        let now = monotonicNow()
        for (fd, peer) in table where now >= peer.lastTraffic + idle {
            _ = close(fd)
            table[fd] = nil
        }
        let soonest = table.values.map(\.lastTraffic).min().map { $0 + idle - now }
        let timeout = soonest.map { Int32(min(86_400_000, max(0, ($0 * 1000).rounded(.up)))) } ?? -1

        let fds = Array(table.keys)
        var watch = [pollfd(fd: stop, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        watch += fds.map { fd in
            let peer = table[fd]!
            return pollfd(fd: fd, events: (peer.ended ? 0 : Int16(POLLIN)) | (peer.ring.count > 0 ? Int16(POLLOUT) : 0), revents: 0)
        }
        if poll(&watch, nfds_t(watch.count), timeout) < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if watch[0].revents != 0 { return }
        for (slot, fd) in fds.enumerated() where watch[slot + 2].revents != 0 {
            guard let peer = table[fd] else { continue }
            if !peer.service(fd, watch[slot + 2].revents, maxPending: maxPending) {
                _ = close(fd)
                table[fd] = nil
            }
        }
        if watch[1].revents & Int16(POLLNVAL) != 0 { throw SocketError(call: "poll", code: EBADF) }
        guard watch[1].revents != 0 else { continue }
        let fd = accept(listener, nil, nil)
        if fd < 0 {
            let code = errno
            if [EINTR, EAGAIN, EWOULDBLOCK, ECONNABORTED].contains(code) { continue }
            throw SocketError(call: "accept", code: code)
        }
        var on: Int32 = 1
        if ioctl(fd, UInt(FIONBIO), &on) != 0 {
            _ = close(fd)
            continue
        }
        table[fd] = Peer(now: monotonicNow())
    }
}

/// One client of the echo server: a ring buffer of the bytes owed to it.
private final class Peer {
    var ring = Ring()
    var lastTraffic: Double
    var ended = false
    init(now: Double) { lastTraffic = now }

    /// Reads what came and writes what it can; false when the connection must close.
    func service(_ fd: Int32, _ revents: Int16, maxPending: Int) -> Bool {
        if revents & Int16(POLLIN | POLLERR | POLLHUP) != 0, !ended {
            // Room for one byte more than maxPending allows: reading it is how we know.
            ring.reserve(min(65_536, maxPending - ring.count + 1))
            let got = ring.withFreeSpace(limit: maxPending - ring.count + 1) { vectors, count in
                var message = msghdr()
                message.msg_iov = vectors
                message.msg_iovlen = count
                return recvmsg(fd, &message, 0)
            }
            if got > 0 {
                ring.didFill(got)
                lastTraffic = monotonicNow()
                if ring.count > maxPending { return false }
            } else if got == 0 {
                ended = true
            } else if errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK {
                return false
            }
        }
        if ring.count > 0 {
            let sent = ring.withBytes { vectors, count in
                var message = msghdr()
                message.msg_iov = vectors
                message.msg_iovlen = count
                return sendmsg(fd, &message, sendNoSignal)
            }
            if sent > 0 {
                ring.didDrain(sent)
                lastTraffic = monotonicNow()
            } else if sent < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK {
                return false
            }
        }
        return !(ended && ring.count == 0)
    }
}

/// A byte ring: `count` bytes from `head`, wrapping at the end of `storage`.
private struct Ring {
    private var storage = [UInt8](repeating: 0, count: 4096)
    private var head = 0
    private(set) var count = 0

    /// Makes room for `extra` more bytes (at least one), keeping the order.
    mutating func reserve(_ extra: Int) {
        guard count + max(extra, 1) > storage.count else { return }
        var bigger = [UInt8](repeating: 0, count: max(storage.count * 2, count + max(extra, 1)))
        for index in 0..<count { bigger[index] = storage[(head + index) % storage.count] }
        storage = bigger
        head = 0
    }

    /// The free space after the bytes, as up to two iovecs of at most `limit` bytes in all.
    mutating func withFreeSpace(limit: Int, _ body: (UnsafeMutablePointer<iovec>, Int) -> Int) -> Int {
        let capacity = storage.count
        let tail = (head + count) % capacity
        let free = min(capacity - count, max(limit, 1))
        let first = min(free, capacity - tail)
        return storage.withUnsafeMutableBytes { raw in
            var vectors = [
                iovec(iov_base: raw.baseAddress! + tail, iov_len: first),
                iovec(iov_base: raw.baseAddress!, iov_len: free - first),
            ]
            return body(&vectors, free - first > 0 ? 2 : 1)
        }
    }

    mutating func didFill(_ bytes: Int) { count += bytes }

    /// The bytes waiting, as up to two iovecs.
    mutating func withBytes(_ body: (UnsafeMutablePointer<iovec>, Int) -> Int) -> Int {
        let capacity = storage.count
        let first = min(count, capacity - head)
        let (start, total) = (head, count)
        return storage.withUnsafeMutableBytes { raw in
            var vectors = [
                iovec(iov_base: raw.baseAddress! + start, iov_len: first),
                iovec(iov_base: raw.baseAddress!, iov_len: total - first),
            ]
            return body(&vectors, total - first > 0 ? 2 : 1)
        }
    }

    mutating func didDrain(_ bytes: Int) {
        head = (head + bytes) % storage.count
        count -= bytes
        if count == 0 { head = 0 }
    }
}

private func ensureListening(_ fd: Int32) throws {
    var flag: Int32 = 0
    var length = socklen_t(4)
    guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &flag, &length) == 0 else { throw SocketError(call: "getsockopt") }
    guard flag == 1 else { throw SocketError(call: "listen", code: EINVAL) }
}

private func monotonicNow() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
}
