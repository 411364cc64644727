// Known-good: MSG_WAITALL, recursion, recvmsg/sendmsg, and poll instead of SO_RCVTIMEO for the idle timeout
// Lesson 4: receive what was sent (no more, no less), and close properly.
import SocketKit

/// Receives exactly `count` bytes: MSG_WAITALL asks the kernel to wait for all of them, but
/// it still returns short on end-of-file or a signal, so the rest is asked for recursively.
public func receiveExactly(_ fd: Int32, count: Int) throws -> [UInt8] {
    guard count > 0 else { return [] }
    var buffer = [UInt8](repeating: 0, count: count)
    let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, count, Int32(MSG_WAITALL)) }
    if got < 0 {
        if errno == EINTR { return try receiveExactly(fd, count: count) }
        throw SocketError(call: "recv")
    }
    if got == 0 { throw ConnectionClosed(received: []) }
    let head = Array(buffer.prefix(got))
    if got == count { return head }
    do {
        return head + (try receiveExactly(fd, count: count - got))
    } catch let closed as ConnectionClosed {
        throw ConnectionClosed(received: head + closed.received)
    }
}

/// Receives one message framed by a 4-byte big-endian length.
public func receiveMessage(_ fd: Int32) throws -> [UInt8] {
    let prefix = try receiveExactly(fd, count: 4)
    var length = 0
    for byte in prefix { length = length * 256 + Int(byte) }
    return try receiveExactly(fd, count: length)
}

/// Reads a stream one line at a time: the bytes up to each "\n", without it.
public struct LineReader {
    public let fd: Int32
    /// Bytes received but not returned yet: the start of the next line(s).
    public var pending: [UInt8] = []

    public init(_ fd: Int32) {
        self.fd = fd
    }

    /// The next line, without its "\n"; nil when the peer has closed and nothing is left.
    /// Looks in `pending` with memchr; reads more with recvmsg, then calls itself again.
    public mutating func readLine() throws -> [UInt8]? {
        let found = pending.withUnsafeBytes { raw -> Int? in
            guard let base = raw.baseAddress, let hit = memchr(base, 0x0A, raw.count) else { return nil }
            return base.distance(to: UnsafeRawPointer(hit))
        }
        if let found {
            let line = Array(pending[0..<found])
            pending = Array(pending[(found + 1)...])
            return line
        }
        var storage = [UInt8](repeating: 0, count: 16_384)
        let got = storage.withUnsafeMutableBytes { raw -> Int in
            var vector = iovec(iov_base: raw.baseAddress, iov_len: raw.count)
            return withUnsafeMutablePointer(to: &vector) { pointer in
                var message = msghdr()
                message.msg_iov = pointer
                message.msg_iovlen = 1
                return recvmsg(fd, &message, 0)
            }
        }
        if got < 0 {
            if errno == EINTR { return try readLine() }
            throw SocketError(call: "recvmsg")
        }
        if got == 0 {
            guard pending.isEmpty else { throw ConnectionClosed(received: pending) }
            return nil
        }
        pending.append(contentsOf: storage[0..<got])
        return try readLine()
    }
}

/// Sends `request`, half-closes, then reads the reply up to end-of-file.
public func requestReply(_ fd: Int32, request: [UInt8]) throws -> [UInt8] {
    try sendEverything(fd, request[...])
    guard shutdown(fd, ShutdownHow.write) == 0 else { throw SocketError(call: "shutdown") }
    return try readToEnd(fd, [])
}

private func readToEnd(_ fd: Int32, _ soFar: [UInt8]) throws -> [UInt8] {
    var reply = soFar
    var buffer = [UInt8](repeating: 0, count: 32_768)
    while true {
        let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        switch got {
        case 0: return reply
        case ..<0 where errno == EINTR: continue
        case ..<0: throw SocketError(call: "recv")
        default: reply.append(contentsOf: buffer[0..<got])
        }
    }
}

/// Serves one client of an echo server, then closes the connection. The idle timeout is a
/// poll timeout, started again before every read.
public func serveEcho(_ connection: Int32, idleTimeout: Double) throws {
    defer { _ = close(connection) }
    let milliseconds = Int32((idleTimeout * 1000).rounded())
    var buffer = [UInt8](repeating: 0, count: 2048)
    while true {
        var entry = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, milliseconds)
        if ready == 0 { return }  // silent for idleTimeout
        if ready < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        let got = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
        if got == 0 { return }
        if got < 0 {
            if errno == EINTR || errno == EAGAIN { continue }
            throw SocketError(call: "recv")
        }
        try sendEverything(connection, buffer[0..<got])
    }
}

/// Sends every byte with sendmsg (MSG_NOSIGNAL), recursing on the rest after a short send
/// and waiting with poll while the buffer is full.
private func sendEverything(_ fd: Int32, _ bytes: ArraySlice<UInt8>) throws {
    guard !bytes.isEmpty else { return }
    try suppressSIGPIPE(on: fd)
    var copy = Array(bytes)
    let sent = copy.withUnsafeMutableBytes { raw -> Int in
        var vector = iovec(iov_base: raw.baseAddress, iov_len: raw.count)
        return withUnsafeMutablePointer(to: &vector) { pointer in
            var message = msghdr()
            message.msg_iov = pointer
            message.msg_iovlen = 1
            return sendmsg(fd, &message, sendNoSignal)
        }
    }
    if sent < 0 {
        switch errno {
        case EINTR:
            return try sendEverything(fd, bytes)
        case EAGAIN, EWOULDBLOCK:
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&entry, 1, 10_000) > 0 else { throw SocketError(call: "sendmsg", code: EAGAIN) }
            return try sendEverything(fd, bytes)
        default:
            throw SocketError(call: "sendmsg")
        }
    }
    try sendEverything(fd, bytes.dropFirst(sent))
}
