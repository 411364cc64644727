// Known-good: the thread server's count lives on the loop alone (each handler's thread writes one byte when done, the loop counts the bytes it reads); the echo server reads at most 1 KB per wake-up, sends only when poll says POLLOUT, keeps each client's bytes in a ContiguousArray, and shuts a connection down before closing it.
// Lesson 7: many clients at once: a thread for each, then one thread and poll.
import Foundation
import SocketKit

public func serveWithThreads(_ listener: Int32, limit: Int, stop: Int32, handler: @escaping @Sendable (Int32) -> Void) throws {
    var acceptConn: Int32 = 0
    var optionLength = socklen_t(MemoryLayout<Int32>.size)
    if getsockopt(listener, SOL_SOCKET, SO_ACCEPTCONN, &acceptConn, &optionLength) == -1 { throw SocketError(call: "getsockopt") }
    if acceptConn == 0 { throw SocketError(call: "listen", code: EINVAL) }

    var done: [Int32] = [-1, -1]
    guard pipe(&done) == 0 else { throw SocketError(call: "pipe") }
    let (doneRead, doneWrite) = (done[0], done[1])
    var running = 0

    /// Takes the bytes of the handlers that ended off the count (blocking: waits for one).
    func collect() {
        var bytes = [UInt8](repeating: 0, count: 16)
        let got = bytes.withUnsafeMutableBytes { read(doneRead, $0.baseAddress, $0.count) }
        if got > 0 { running -= got }
    }
    defer {
        while running > 0 { collect() }  // read blocks until a handler ends: no processor time
        _ = close(doneRead)
        _ = close(doneWrite)
    }

    while true {
        var watched = [pollfd(fd: stop, events: Int16(POLLIN), revents: 0), pollfd(fd: doneRead, events: Int16(POLLIN), revents: 0)]
        if running < max(limit, 1) { watched.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
        if poll(&watched, nfds_t(watched.count), -1) < 0 {
            guard errno == EINTR else { throw SocketError(call: "poll") }
            continue
        }
        if watched[0].revents != 0 { return }
        if watched[1].revents != 0 { collect() }
        guard watched.count == 3, watched[2].revents != 0 else { continue }
        if watched[2].revents & Int16(POLLNVAL) != 0 { throw SocketError(call: "poll", code: EBADF) }
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else {
            let code = errno
            guard code == EINTR || code == EAGAIN || code == EWOULDBLOCK || code == ECONNABORTED else { throw SocketError(call: "accept", code: code) }
            continue
        }
        running += 1
        Thread {
            handler(connection)
            _ = close(connection)
            var one: UInt8 = 1
            _ = write(doneWrite, &one, 1)
        }.start()
    }
}

public func serveEchoWithPoll(_ listener: Int32, stop: Int32, maxPending: Int, idleTimeout: Double) throws {
    var acceptConn: Int32 = 0
    var optionLength = socklen_t(MemoryLayout<Int32>.size)
    if getsockopt(listener, SOL_SOCKET, SO_ACCEPTCONN, &acceptConn, &optionLength) == -1 { throw SocketError(call: "getsockopt") }
    if acceptConn == 0 { throw SocketError(call: "listen", code: EINVAL) }

    var waiting: [Int32: ContiguousArray<UInt8>] = [:]
    var deadline: [Int32: Double] = [:]
    var finished: Set<Int32> = []
    defer { for fd in waiting.keys { _ = close(fd) } }
    let idle = idleTimeout.isNaN ? 0 : max(0, idleTimeout)
    var small = [UInt8](repeating: 0, count: 1024)

    func hangUp(_ fd: Int32) {
        _ = shutdown(fd, ShutdownHow.both)
        _ = close(fd)
        waiting[fd] = nil
        deadline[fd] = nil
        finished.remove(fd)
    }

    while true {
        let now = elapsed()
        for (fd, due) in deadline where due <= now { hangUp(fd) }
        let timeout = deadline.values.min().map { Int32(min(86_400_000, max(0, (($0 - now) * 1000).rounded(.up)))) } ?? -1
        let fds = deadline.keys.sorted()
        var watched = [pollfd(fd: stop, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        for fd in fds {
            let events = (finished.contains(fd) ? 0 : Int16(POLLIN)) | (waiting[fd]!.isEmpty ? 0 : Int16(POLLOUT))
            watched.append(pollfd(fd: fd, events: events, revents: 0))
        }
        if poll(&watched, nfds_t(watched.count), timeout) < 0 {
            guard errno == EINTR else { throw SocketError(call: "poll") }
            continue
        }
        if watched[0].revents != 0 { return }
        for (index, fd) in fds.enumerated() {
            let revents = watched[index + 2].revents
            if revents == 0 { continue }
            if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0, !finished.contains(fd) {
                let got = small.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if got > 0 {
                    deadline[fd] = elapsed() + idle
                    if waiting[fd]!.count + got > maxPending {
                        hangUp(fd)
                        continue
                    }
                    waiting[fd]!.append(contentsOf: small[..<got])
                } else if got == 0 {
                    finished.insert(fd)
                } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                    hangUp(fd)
                    continue
                }
            }
            // Only when poll said the socket can take more (or reported an error to find out).
            if revents & Int16(POLLOUT | POLLERR | POLLHUP) != 0, !waiting[fd]!.isEmpty {
                let sent = waiting[fd]!.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
                if sent > 0 {
                    waiting[fd]!.removeFirst(sent)
                    deadline[fd] = elapsed() + idle
                } else if sent < 0, errno != EAGAIN, errno != EWOULDBLOCK, errno != EINTR {
                    hangUp(fd)
                    continue
                }
            }
            if finished.contains(fd), waiting[fd]!.isEmpty { hangUp(fd) }
        }
        if watched[1].revents & Int16(POLLNVAL) != 0 { throw SocketError(call: "poll", code: EBADF) }
        if watched[1].revents != 0 {
            let fd = accept(listener, nil, nil)
            if fd >= 0 {
                if fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1 {
                    _ = close(fd)
                } else {
                    waiting[fd] = []
                    deadline[fd] = elapsed() + idle
                }
            } else {
                let code = errno
                if code != EINTR && code != EAGAIN && code != EWOULDBLOCK && code != ECONNABORTED { throw SocketError(call: "accept", code: code) }
            }
        }
    }
}

private func elapsed() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
