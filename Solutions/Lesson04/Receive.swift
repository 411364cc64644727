// Lesson 4: receive what was sent (no more, no less), and close properly.
// Read Lessons/04-recv-close.md first. Grade with: swift test --filter Lesson04
import SocketKit

/// Receives exactly `count` bytes, however the sender's writes were cut up on the way.
///
/// `recv` returns whatever has arrived (maybe 1 byte, maybe several messages' worth,
/// never more than asked); this loops until it has `count`. `count` may be 0 (then it
/// returns [] at once, without calling recv) or far more than 65,535. It takes no more than
/// `count` bytes out of the socket: what follows stays there for the next call. The socket
/// stays open: it is the caller's.
///
/// - Throws: `ConnectionClosed` when the peer closes first (recv returns 0), with exactly
///   the bytes that had arrived; `SocketError` naming "recv" when the call fails (recv
///   returns -1: ECONNRESET, EBADF, ENOTCONN...). Look at errno only after a -1.
public func receiveExactly(_ fd: Int32, count: Int) throws -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
        // Ask only for what is still missing, and write it after what we have.
        let got = buffer.withUnsafeMutableBytes { raw in
            recv(fd, raw.baseAddress! + filled, count - filled, 0)
        }
        if got > 0 {
            filled += got
        } else if got == 0 {
            throw ConnectionClosed(received: Array(buffer.prefix(filled)))
        } else if errno != EINTR {
            throw SocketError(call: "recv")
        }
    }
    return buffer
}

/// Receives one message framed by a 4-byte length (big-endian, network order) followed
/// by that many bytes, and returns the bytes.
///
/// The length may arrive in pieces, and the next message may arrive in the same read as
/// this one: reading exactly 4 bytes, then exactly `length`, handles both. A length may be
/// 0 (an empty message: return []) or more than 65,535: all 4 bytes count.
///
/// - Throws: `ConnectionClosed` when the peer closes before the whole message (prefix
///   included) has come; `SocketError` when recv fails.
public func receiveMessage(_ fd: Int32) throws -> [UInt8] {
    let prefix = try receiveExactly(fd, count: 4)
    let length = prefix.reduce(0) { $0 << 8 | Int($1) }  // most significant byte first
    return try receiveExactly(fd, count: length)
}

/// Reads a stream one line at a time: the bytes up to each "\n", without it.
///
/// One `recv` can bring several lines, or half of one. What comes after the first "\n" is
/// kept in `pending` for the next call instead of being thrown away.
///
/// Only the byte "\n" (10) ends a line. A line may be empty, may hold "\r" (kept: "a\r\n"
/// gives "a\r"), may hold any bytes at all (not only UTF-8: compare bytes, not Characters),
/// and may be longer than your receive buffer.
public struct LineReader {
    public let fd: Int32
    /// Bytes received but not returned yet: the start of the next line(s).
    public var pending: [UInt8] = []

    public init(_ fd: Int32) {
        self.fd = fd
    }

    /// The next line, without its "\n"; nil when the peer has closed and nothing is left.
    ///
    /// - Throws: `ConnectionClosed` when the peer closes in the middle of a line (a last
    ///   line with no "\n"), with the bytes of that line; `SocketError` naming "recv" when
    ///   the call fails.
    public mutating func readLine() throws -> [UInt8]? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                return line
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got > 0 {
                pending += buffer.prefix(got)  // only the bytes recv says it wrote
            } else if got == 0 {
                guard pending.isEmpty else { throw ConnectionClosed(received: pending) }
                return nil
            } else if errno != EINTR {
                throw SocketError(call: "recv")
            }
        }
    }
}

/// Sends `request`, says "that is all" with `shutdown(SHUT_WR)`, then reads the reply up
/// to end-of-file, for peers that answer only once they have the whole request.
///
/// - Returns: every byte of the reply (maybe none). The socket stays open: it is the caller's.
/// - Throws: `SocketError` when a call fails (the peer reset or closed the connection:
///   ECONNRESET, EPIPE). A send to a connection that is gone must throw, never kill the
///   program with SIGPIPE: pass `sendNoSignal`.
public func requestReply(_ fd: Int32, request: [UInt8]) throws -> [UInt8] {
    try writeAll(fd, request)
    // Half-close: the peer's recv returns 0, yet we can still read its answer.
    guard shutdown(fd, ShutdownHow.write) == 0 else { throw SocketError(call: "shutdown") }
    var reply: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if got > 0 {
            reply += buffer.prefix(got)
        } else if got == 0 {
            return reply
        } else if errno != EINTR {
            throw SocketError(call: "recv")
        }
    }
}

/// Serves one client of an echo server: sends back everything it receives, as soon as it
/// arrives, until the client closes its side, or says nothing for `idleTimeout` seconds;
/// then closes the connection, exactly once, whatever happened.
///
/// `idleTimeout` may be a fraction (0.25) or more than a second (1.5). It restarts with
/// every byte that arrives: a client that sends slowly but steadily is served to the end.
///
/// - Throws: `SocketError` when a call fails (the connection is closed all the same, also
///   when the very first call fails).
public func serveEcho(_ connection: Int32, idleTimeout: Double) throws {
    // Close on every path: a connection the server forgets stays in CLOSE_WAIT, and the
    // client waits for an end-of-file that never comes.
    defer { _ = close(connection) }

    // A receive timeout: recv gives up with EAGAIN after this long without data.
    // Int(x) traps on NaN and past Int's range, so clamp first (a year is "for ever"); and
    // a tiny timeout stays a timeout (an all-zero timeval would mean "none"): round up.
    let idle = idleTimeout.isNaN ? 0 : min(max(idleTimeout, 0.000_001), 365 * 86_400)
    let seconds = Int(idle)
    var timeout = timeval(tv_sec: seconds, tv_usec: .init(min(((idle - Double(seconds)) * 1_000_000).rounded(.up), 999_999)))
    guard setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
        throw SocketError(call: "setsockopt")
    }

    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let got = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
        if got == 0 { return }  // the client closed its side: we are done
        if got < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return }  // idle too long
            throw SocketError(call: "recv")
        }
        try writeAll(connection, Array(buffer.prefix(got)))  // echo what came, no more
    }
}

/// Writes every byte (the loop of lesson 3's sendAll: each lesson's module stands alone,
/// so that it can be graded alone). `send` may take only part of what it is given, or, on a
/// socket with a send timeout or a non-blocking one, nothing at all (EAGAIN): then wait with
/// `poll` until there is room, and carry on from where it stopped.
private func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    try suppressSIGPIPE(on: fd)  // macOS; on Linux sendNoSignal does it
    var sent = 0
    while sent < bytes.count {
        let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, sendNoSignal) }
        if written >= 0 {
            sent += written
            continue
        }
        let failure = SocketError(call: "send")
        switch failure.code {
        case EINTR:
            continue  // a signal came before anything was written: try again
        case EAGAIN, EWOULDBLOCK:
            // The send buffer is full (the peer reads slowly): wait for room, then go on.
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&entry, 1, 10_000) > 0 else { throw failure }
        default:
            throw failure
        }
    }
}
