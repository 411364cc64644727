// Known-good: O_NONBLOCK and MSG_DONTWAIT with poll everywhere, raw allocated buffers, a LineReader that reads one byte per recv
// Lesson 4: receive what was sent (no more, no less), and close properly.
import SocketKit

/// Waits until `fd` is ready for `events`; false when `milliseconds` passed first (-1: no limit).
private func wait(_ fd: Int32, _ events: Int32, milliseconds: Int32 = -1) throws -> Bool {
    while true {
        var entry = pollfd(fd: fd, events: Int16(events), revents: 0)
        let ready = poll(&entry, 1, milliseconds)
        if ready > 0 { return true }
        if ready == 0 { return false }
        if errno != EINTR { throw SocketError(call: "poll") }
    }
}

/// Receives exactly `count` bytes, however the sender's writes were cut up on the way.
public func receiveExactly(_ fd: Int32, count: Int) throws -> [UInt8] {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
    defer { buffer.deallocate() }
    var filled = 0
    while filled < count {
        let got = recv(fd, buffer.baseAddress! + filled, count - filled, Int32(MSG_DONTWAIT))
        if got > 0 {
            filled += got
        } else if got == 0 {
            throw ConnectionClosed(received: Array(buffer[0..<filled]))
        } else if errno == EAGAIN || errno == EWOULDBLOCK {
            _ = try wait(fd, POLLIN)
        } else if errno != EINTR {
            throw SocketError(call: "recv")
        }
    }
    return Array(buffer[0..<count])
}

/// Receives one message framed by a 4-byte big-endian length.
public func receiveMessage(_ fd: Int32) throws -> [UInt8] {
    let b = try receiveExactly(fd, count: 4)
    let length = UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
    return try receiveExactly(fd, count: Int(length))
}

/// Reads a stream one line at a time: the bytes up to each "\n", without it. It never reads
/// past a "\n" (one byte per recv), so `pending` holds only the line in progress.
public struct LineReader {
    public let fd: Int32
    /// Bytes received but not returned yet: the start of the next line(s).
    public var pending: [UInt8] = []

    public init(_ fd: Int32) {
        self.fd = fd
    }

    /// The next line, without its "\n"; nil when the peer has closed and nothing is left.
    public mutating func readLine() throws -> [UInt8]? {
        if let newline = pending.firstIndex(of: 10) {
            let line = Array(pending[..<newline])
            pending = Array(pending[pending.index(after: newline)...])
            return line
        }
        var byte: UInt8 = 0
        while true {
            let got = recv(fd, &byte, 1, 0)
            if got == 1 {
                if byte == 10 {
                    let line = pending
                    pending = []
                    return line
                }
                pending.append(byte)
            } else if got == 0 {
                if pending.isEmpty { return nil }
                throw ConnectionClosed(received: pending)
            } else if errno != EINTR {
                throw SocketError(call: "recv")
            }
        }
    }
}

/// Sends `request`, half-closes, then reads the reply up to end-of-file.
public func requestReply(_ fd: Int32, request: [UInt8]) throws -> [UInt8] {
    try sendAllOf(fd, request)
    guard shutdown(fd, ShutdownHow.write) == 0 else { throw SocketError(call: "shutdown") }
    var reply: [UInt8] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
    defer { buffer.deallocate() }
    while true {
        let got = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
        if got > 0 {
            reply += buffer[0..<got]
        } else if got == 0 {
            return reply
        } else if errno == EAGAIN || errno == EWOULDBLOCK {
            _ = try wait(fd, POLLIN)
        } else if errno != EINTR {
            throw SocketError(call: "recv")
        }
    }
}

/// Serves one client of an echo server, then closes the connection. The connection is
/// its own, so it makes it non-blocking and does all its waiting in poll.
public func serveEcho(_ connection: Int32, idleTimeout: Double) throws {
    defer { _ = close(connection) }
    let flags = fcntl(connection, F_GETFL)
    guard flags >= 0, fcntl(connection, F_SETFL, flags | O_NONBLOCK) == 0 else { throw SocketError(call: "fcntl") }
    let limit = Int32(idleTimeout * 1000)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 1)
    defer { buffer.deallocate() }
    while true {
        let got = recv(connection, buffer.baseAddress, buffer.count, 0)
        if got == 0 { return }
        if got < 0 {
            if errno == EINTR { continue }
            guard errno == EAGAIN || errno == EWOULDBLOCK else { throw SocketError(call: "recv") }
            if try !wait(connection, POLLIN, milliseconds: limit) { return }  // silent too long
            continue
        }
        try sendAllOf(connection, Array(buffer[0..<got]))
    }
}

/// Every byte, with MSG_DONTWAIT: when the buffer is full, poll for room.
private func sendAllOf(_ fd: Int32, _ bytes: [UInt8]) throws {
    try suppressSIGPIPE(on: fd)
    var done = 0
    while done < bytes.count {
        let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + done, $0.count - done, sendNoSignal | Int32(MSG_DONTWAIT)) }
        if sent >= 0 {
            done += sent
        } else if errno == EAGAIN || errno == EWOULDBLOCK {
            guard try wait(fd, POLLOUT, milliseconds: 10_000) else { throw SocketError(call: "send", code: EAGAIN) }
        } else if errno != EINTR {
            throw SocketError(call: "send")
        }
    }
}
