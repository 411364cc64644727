// Known-good: ioctl FIONREAD to size each read, ioctl FIONBIO for a non-blocking echo, Array(unsafeUninitializedCapacity:) buffers
// Lesson 4: receive what was sent (no more, no less), and close properly.
import SocketKit

/// Blocks until `fd` has something to read (data, end-of-file or an error), or `milliseconds`
/// pass (-1: no limit). False on timeout.
private func awaitReadable(_ fd: Int32, milliseconds: Int32 = -1) throws -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    while true {
        let ready = poll(&entry, 1, milliseconds)
        if ready >= 0 { return ready > 0 }
        if errno != EINTR { throw SocketError(call: "poll") }
    }
}

/// How many bytes are waiting in the socket right now.
private func waiting(_ fd: Int32) throws -> Int {
    var count: Int32 = 0
    guard ioctl(fd, UInt(FIONREAD), &count) == 0 else { throw SocketError(call: "ioctl(FIONREAD)") }
    return Int(count)
}

/// One recv of at most `limit` bytes (at least 1 is asked): nil at end-of-file.
private func receiveSome(_ fd: Int32, limit: Int) throws -> [UInt8]? {
    while true {
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: max(limit, 1)) { buffer, initialized in
            let got = recv(fd, buffer.baseAddress, buffer.count, 0)
            if got < 0 { failure = errno }
            initialized = max(got, 0)
        }
        if failure == EINTR { continue }
        if failure != 0 { throw SocketError(call: "recv", code: failure) }
        return bytes.isEmpty ? nil : bytes
    }
}

/// Receives exactly `count` bytes, however the sender's writes were cut up on the way.
public func receiveExactly(_ fd: Int32, count: Int) throws -> [UInt8] {
    var result: [UInt8] = []
    result.reserveCapacity(count)
    while result.count < count {
        let ready = try waiting(fd)
        if ready == 0 { _ = try awaitReadable(fd) }
        guard let piece = try receiveSome(fd, limit: min(max(ready, 1), count - result.count)) else {
            throw ConnectionClosed(received: result)
        }
        result += piece
    }
    return result
}

/// Receives one message framed by a 4-byte big-endian length.
public func receiveMessage(_ fd: Int32) throws -> [UInt8] {
    let length = try receiveExactly(fd, count: 4).reduce(into: 0) { total, byte in total = total << 8 + Int(byte) }
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
    public mutating func readLine() throws -> [UInt8]? {
        var searched = 0  // the bytes of pending already known to hold no "\n"
        while true {
            if let newline = pending[searched...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[..<newline])
                pending = Array(pending[(newline + 1)...])
                return line
            }
            searched = pending.count
            let ready = try waiting(fd)
            if ready == 0 { _ = try awaitReadable(fd) }
            guard let piece = try receiveSome(fd, limit: max(ready, 512)) else {
                if pending.isEmpty { return nil }
                throw ConnectionClosed(received: pending)
            }
            pending += piece
        }
    }
}

/// Sends `request`, half-closes, then reads the reply up to end-of-file.
public func requestReply(_ fd: Int32, request: [UInt8]) throws -> [UInt8] {
    try sendEvery(fd, request)
    guard shutdown(fd, ShutdownHow.write) == 0 else { throw SocketError(call: "shutdown") }
    var reply: [UInt8] = []
    while let piece = try receiveSome(fd, limit: 16_384) {
        reply += piece
    }
    return reply
}

/// Serves one client of an echo server, then closes the connection. The connection is made
/// non-blocking with ioctl(FIONBIO); poll waits, its timeout restarted before every read.
public func serveEcho(_ connection: Int32, idleTimeout: Double) throws {
    defer { _ = close(connection) }
    var on: Int32 = 1
    guard ioctl(connection, UInt(FIONBIO), &on) == 0 else { throw SocketError(call: "ioctl(FIONBIO)") }
    let limit = Int32((idleTimeout * 1000).rounded(.up))
    while true {
        guard try awaitReadable(connection, milliseconds: limit) else { return }  // idle too long
        let piece: [UInt8]?
        do {
            piece = try receiveSome(connection, limit: 4096)
        } catch let error as SocketError where error.code == EAGAIN || error.code == EWOULDBLOCK {
            continue  // woken, but nothing to read after all
        }
        guard let piece else { return }  // the client is done
        try sendEvery(connection, piece)
    }
}

/// Every byte, waiting with poll whenever the send buffer is full.
private func sendEvery(_ fd: Int32, _ bytes: [UInt8]) throws {
    try suppressSIGPIPE(on: fd)
    var offset = 0
    while offset < bytes.count {
        let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
        if sent >= 0 {
            offset += sent
            continue
        }
        switch errno {
        case EINTR:
            continue
        case EAGAIN, EWOULDBLOCK:
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            if poll(&entry, 1, 10_000) == 0 { throw SocketError(call: "send", code: EAGAIN) }
        default:
            throw SocketError(call: "send")
        }
    }
}
