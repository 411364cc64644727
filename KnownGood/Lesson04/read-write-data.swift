// Known-good: read()/write() instead of recv/send, Foundation Data buffers, SIGPIPE ignored process-wide
// Lesson 4: receive what was sent (no more, no less), and close properly.
import Foundation
import SocketKit

/// Receives exactly `count` bytes, however the sender's writes were cut up on the way.
public func receiveExactly(_ fd: Int32, count: Int) throws -> [UInt8] {
    var data = Data(count: count)
    var filled = 0
    while filled < count {
        let got = data.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress! + filled, count - filled) }
        if got > 0 {
            filled += got
        } else if got == 0 {
            throw ConnectionClosed(received: [UInt8](data.prefix(filled)))
        } else if errno != EINTR {
            throw SocketError(call: "read")
        }
    }
    return [UInt8](data)
}

/// Receives one message framed by a 4-byte big-endian length.
public func receiveMessage(_ fd: Int32) throws -> [UInt8] {
    let prefix = Data(try receiveExactly(fd, count: 4))
    let length = prefix.withUnsafeBytes { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) }
    return try receiveExactly(fd, count: Int(length))
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
        var chunk = Data(count: 2048)
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                defer { pending.removeFirst(newline + 1) }
                return Array(pending[..<newline])
            }
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            switch got {
            case 1...:
                pending.append(contentsOf: chunk.prefix(got))
            case 0:
                if pending.isEmpty { return nil }
                throw ConnectionClosed(received: pending)
            default:
                if errno == EINTR { continue }
                throw SocketError(call: "read")
            }
        }
    }
}

/// Sends `request`, half-closes, then reads the reply up to end-of-file.
public func requestReply(_ fd: Int32, request: [UInt8]) throws -> [UInt8] {
    try writeEverything(fd, Data(request))
    guard shutdown(fd, ShutdownHow.write) == 0 else { throw SocketError(call: "shutdown") }
    var reply = Data()
    var chunk = Data(count: 8192)
    while true {
        let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if got > 0 {
            reply.append(chunk.prefix(got))
        } else if got == 0 {
            return [UInt8](reply)
        } else if errno != EINTR {
            throw SocketError(call: "read")
        }
    }
}

/// Serves one client of an echo server, then closes the connection.
public func serveEcho(_ connection: Int32, idleTimeout: Double) throws {
    defer { close(connection) }
    var timeout = timeval()
    timeout.tv_sec = Int(idleTimeout.rounded(.down))
    timeout.tv_usec = .init(((idleTimeout - idleTimeout.rounded(.down)) * 1e6).rounded())
    if setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout.size(ofValue: timeout))) != 0 {
        throw SocketError(call: "setsockopt")
    }
    var chunk = Data(count: 1500)
    while true {
        let got = chunk.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
        if got == 0 { return }
        if got < 0 {
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return
            default: throw SocketError(call: "read")
            }
        }
        try writeEverything(connection, chunk.prefix(got))
    }
}

/// write() cannot take MSG_NOSIGNAL, so SIGPIPE is ignored for the whole process instead:
/// a write to a connection that is gone then fails with EPIPE.
private func writeEverything(_ fd: Int32, _ data: Data) throws {
    signal(SIGPIPE, SIG_IGN)
    var offset = 0
    while offset < data.count {
        let wrote = data.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if wrote >= 0 {
            offset += wrote
        } else if errno == EAGAIN || errno == EWOULDBLOCK {
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            if poll(&entry, 1, 10_000) <= 0 { throw SocketError(call: "write", code: EAGAIN) }
        } else if errno != EINTR {
            throw SocketError(call: "write")
        }
    }
}
