// Lesson 3: connect to a server and send it bytes: all of them.
// Read Lessons/03-connect-send.md first. Grade with: swift test --filter Lesson03
import SocketKit

/// Opens a TCP connection to `address` (IPv4 or IPv6), like Python's
/// `socket.create_connection((host, port))`.
///
/// - Returns: the connected socket's descriptor, a TCP socket in the address's family, in
///   blocking mode as `socket` made it.
/// - Throws: `SocketError` naming the call that failed: "connect" with ECONNREFUSED when
///   nothing listens there, "socket" with EMFILE when no descriptor is free, and whatever
///   `withSockAddr` throws for a host that is not an address. Nothing is left open when it
///   throws, whichever way.
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
/// A failed connect is an answer here, not an exception: every errno connect can give
/// comes back as the value, ECONNREFUSED, EISCONN (already connected), EBADF (`fd` is not
/// open, -1 included) and ENOTSOCK (not a socket) alike. `connect`'s return value decides:
/// errno may hold a stale value from an earlier call when connect succeeds. The socket
/// stays the caller's: connectEx never closes it.
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
/// loops until everything is written, on a blocking socket (with or without a send
/// timeout) or a non-blocking one, waiting without spinning while the buffer is full. It
/// never kills the process with SIGPIPE when the peer has gone: it throws `SocketError`
/// naming "send" (EPIPE or ECONNRESET) instead; on a descriptor that is not an open socket
/// it throws too (EBADF, ENOTSOCK). An empty array sends nothing and returns. `fd` stays
/// the caller's: open, in the mode the caller set, whether sendAll returns or throws.
public func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    // macOS has no MSG_NOSIGNAL (sendNoSignal is 0 there): set SO_NOSIGPIPE on the socket
    // instead. On Linux this does nothing, and sendNoSignal does the job.
    try suppressSIGPIPE(on: fd)
    var sent = 0
    while sent < bytes.count {
        // Continue from where the last call stopped: baseAddress + sent.
        let written = bytes.withUnsafeBytes { raw in
            send(fd, raw.baseAddress! + sent, raw.count - sent, sendNoSignal)
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
/// Every byte means every one: a NUL ("\u{0}") inside the text is sent too, and an empty
/// text sends nothing.
public func sendText(_ fd: Int32, _ text: String) throws {
    try sendAll(fd, Array(text.utf8))
}
