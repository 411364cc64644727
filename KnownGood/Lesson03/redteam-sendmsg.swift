// Known-good: sendAll writes with sendmsg and a single iovec (msghdr) instead of send
// Lesson 3: connect to a server and send it bytes: all of them.
// Read Lessons/03-connect-send.md first. Grade with: swift test --filter Lesson03
import SocketKit

/// Opens a TCP connection to `address` (IPv4 or IPv6), like Python's
/// `socket.create_connection((host, port))`.
///
/// - Returns: the connected socket's descriptor.
/// - Throws: `SocketError` naming the call that failed: "connect" with ECONNREFUSED when
///   nothing listens there. Nothing is left open when it throws.
public func openConnection(to address: SocketAddress) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    do {
        // SocketAddress lends the right sockaddr struct (in, in6 or un) for the call:
        // the same dance you did by hand for bind in lesson 2.
        try address.withSockAddr { pointer, length in
            guard connect(fd, pointer, length) == 0 else { throw SocketError(call: "connect") }
        }
        return fd
    } catch {
        _ = close(fd)
        throw error
    }
}

/// The connect_ex style, like Python's `s.connect_ex(address)`: connects the socket
/// `fd` and returns 0, or the errno value when connecting failed (ECONNREFUSED, ...).
/// A failed connect is an answer here, not an exception.
///
/// - Throws: only for an address that cannot be turned into a sockaddr (not for a
///   failed connect).
public func connectEx(_ fd: Int32, to address: SocketAddress) throws -> Int32 {
    try address.withSockAddr { pointer, length in
        connect(fd, pointer, length) == 0 ? 0 : errno
    }
}

/// Sends every byte of `bytes`, like Python's `s.sendall(bytes)`.
///
/// `send` may take only part of what you give it (it returns how much it took), so this
/// loops until everything is written. It never kills the process with SIGPIPE when the
/// peer has gone: it throws `SocketError` naming "send" (EPIPE or ECONNRESET) instead.
public func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    // macOS has no MSG_NOSIGNAL (sendNoSignal is 0 there): set SO_NOSIGPIPE on the socket
    // instead. On Linux this does nothing, and sendNoSignal does the job.
    try suppressSIGPIPE(on: fd)
    var sent = 0
    while sent < bytes.count {
        // sendmsg with one iovec: the same as send, written the scatter/gather way.
        let written = bytes.withUnsafeBytes { raw -> Int in
            var piece = iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress! + sent),
                              iov_len: raw.count - sent)
            return withUnsafeMutablePointer(to: &piece) { iov -> Int in
                var message = msghdr()
                message.msg_iov = iov
                message.msg_iovlen = 1
                return sendmsg(fd, &message, sendNoSignal)
            }
        }
        if written >= 0 {
            sent += written
            continue
        }
        let failure = SocketError(call: "send")
        switch failure.code {
        case EINTR:
            continue  // a signal arrived before anything was written: just try again
        case EAGAIN, EWOULDBLOCK:
            // The send buffer stayed full (a send timeout, or a non-blocking socket):
            // wait until there is room, then try again.
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&entry, 1, 10_000) > 0 else { throw failure }
        default:
            throw failure
        }
    }
}

/// Sends `text` encoded as UTF-8: every byte of it.
///
/// `text.count` counts Characters, not bytes: "你好" is 2 Characters and 6 UTF-8 bytes.
public func sendText(_ fd: Int32, _ text: String) throws {
    try sendAll(fd, Array(text.utf8))
}
