// Known-good: openConnection connects with O_NONBLOCK (fcntl, flags kept) + poll + SO_ERROR, then restores blocking mode
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
        // Connect without blocking in connect itself: switch O_NONBLOCK on (keeping the
        // other flags), start the connect, wait in poll until the socket is writable, read
        // the outcome from SO_ERROR, then give the socket its original flags back.
        let flags = fcntl(fd, F_GETFL, 0)
        guard flags >= 0 else { throw SocketError(call: "fcntl") }
        guard fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { throw SocketError(call: "fcntl") }
        let code = try address.withSockAddr { pointer, length -> Int32 in
            connect(fd, pointer, length) == 0 ? 0 : errno
        }
        if code == EINPROGRESS || code == EINTR {
            try waitForConnect(fd)
        } else if code != 0 {
            throw SocketError(call: "connect", code: code)
        }
        guard fcntl(fd, F_SETFL, flags) == 0 else { throw SocketError(call: "fcntl") }
        return fd
    } catch {
        _ = close(fd)
        throw error
    }
}

/// Waits (no time limit, like a blocking connect) until a non-blocking connect has ended,
/// then throws its outcome when it failed.
private func waitForConnect(_ fd: Int32) throws {
    var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
    while poll(&entry, 1, -1) < 0 {
        guard errno == EINTR else { throw SocketError(call: "poll") }
    }
    var soError: Int32 = 0
    var size = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &size) == 0 else {
        throw SocketError(call: "getsockopt(SO_ERROR)")
    }
    guard soError == 0 else { throw SocketError(call: "connect", code: soError) }
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
public func sendText(_ fd: Int32, _ text: String) throws {
    try sendAll(fd, Array(text.utf8))
}
