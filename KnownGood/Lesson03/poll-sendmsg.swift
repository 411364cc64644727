// Known-good: poll for POLLOUT before every send, sendmsg with an iovec and MSG_DONTWAIT, a non-blocking connect (ioctl FIONBIO) finished with poll and SO_ERROR
// Lesson 3: connect to a server and send it bytes: all of them.
import SocketKit

private func setNonBlocking(_ fd: Int32, _ on: Bool) throws {
    var flag: Int32 = on ? 1 : 0
    guard ioctl(fd, UInt(FIONBIO), &flag) == 0 else { throw SocketError(call: "ioctl(FIONBIO)") }
}

/// Opens a TCP connection to `address`, waiting at most 10 s for the handshake.
public func openConnection(to address: SocketAddress) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    do {
        try setNonBlocking(fd, true)
        let started = try address.withSockAddr { connect(fd, $0, $1) }
        if started != 0 {
            guard errno == EINPROGRESS else { throw SocketError(call: "connect") }
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&entry, 1, 10_000) == 1 else { throw SocketError(call: "connect", code: ETIMEDOUT) }
            var failure: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &size) == 0 else { throw SocketError(call: "getsockopt(SO_ERROR)") }
            guard failure == 0 else { throw SocketError(call: "connect", code: failure) }
        }
        try setNonBlocking(fd, false)
        return fd
    } catch {
        _ = close(fd)
        throw error
    }
}

/// connect_ex: 0 or errno.
public func connectEx(_ fd: Int32, to address: SocketAddress) throws -> Int32 {
    try address.withSockAddr { pointer, length -> Int32 in
        switch connect(fd, pointer, length) {
        case 0: return 0
        default: return errno
        }
    }
}

/// Every byte: wait until the socket is writable, then hand sendmsg what is left.
public func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    try suppressSIGPIPE(on: fd)
    var sent = 0
    while sent < bytes.count {
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready = poll(&entry, 1, 10_000)
        if ready < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if ready == 0 { throw SocketError(call: "send", code: ETIMEDOUT) }
        // Writable, or an error (POLLERR, POLLHUP, POLLNVAL): sendmsg says which.
        let written = bytes.withUnsafeBytes { raw -> Int in
            var part = iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress! + sent), iov_len: raw.count - sent)
            return withUnsafeMutablePointer(to: &part) { vector in
                var message = msghdr()
                message.msg_iov = vector
                message.msg_iovlen = 1
                return sendmsg(fd, &message, sendNoSignal | Int32(MSG_DONTWAIT))
            }
        }
        if written >= 0 {
            sent += written
            continue
        }
        let failure = SocketError(call: "sendmsg")
        if failure.code != EINTR && failure.code != EAGAIN && failure.code != EWOULDBLOCK { throw failure }
    }
}

/// The text's UTF-8 bytes.
public func sendText(_ fd: Int32, _ text: String) throws {
    try sendAll(fd, Array(text.utf8))
}
