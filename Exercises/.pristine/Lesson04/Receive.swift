// Lesson 4: receive what was sent (no more, no less), and close properly.
// Read Lessons/04-recv-close.md first. Grade with: swift test --filter Lesson04
//
// Each function below is a stub: it throws NotStarted() until you replace its body.
// `import SocketKit` brings in the C calls (recv, send, shutdown, setsockopt, close, errno),
// SocketError, ConnectionClosed, ShutdownHow and `sendNoSignal`.
import SocketKit

/// Receives exactly `count` bytes, however the sender's writes were cut up on the way.
///
/// `recv` returns whatever has arrived (maybe 1 byte, maybe several messages' worth,
/// never more than asked); this loops until it has `count`.
///
/// - Throws: `ConnectionClosed` when the peer closes first (recv returns 0), with what had
///   arrived; `SocketError` naming "recv" when the call fails.
///
/// Steps: a buffer of `count` bytes and a `filled` count. While `filled < count`:
/// `recv(fd, pointer + filled, count - filled, 0)`. More than 0: add it to `filled`.
/// 0: the peer closed, so throw `ConnectionClosed(received: what you have)`. -1: retry on
/// EINTR, otherwise throw `SocketError(call: "recv")`.
public func receiveExactly(_ fd: Int32, count: Int) throws -> [UInt8] {
    throw NotStarted()
}

/// Receives one message framed by a 4-byte length (big-endian, network order) followed
/// by that many bytes, and returns the bytes.
///
/// The length may arrive in pieces, and the next message may arrive in the same read as
/// this one: reading exactly 4 bytes, then exactly `length`, handles both.
///
/// Steps: `receiveExactly(fd, count: 4)`; turn the 4 bytes into an Int, first byte most
/// significant; then `receiveExactly(fd, count: length)`.
public func receiveMessage(_ fd: Int32) throws -> [UInt8] {
    throw NotStarted()
}

/// Reads a stream one line at a time: the bytes up to each "\n", without it.
///
/// One `recv` can bring several lines, or half of one. What comes after the first "\n" is
/// kept in `pending` for the next call instead of being thrown away.
public struct LineReader {
    public let fd: Int32
    /// Bytes received but not returned yet: the start of the next line(s).
    public var pending: [UInt8] = []

    public init(_ fd: Int32) {
        self.fd = fd
    }

    /// The next line, without its "\n"; nil when the peer has closed and nothing is left.
    ///
    /// - Throws: `ConnectionClosed` when the peer closes in the middle of a line;
    ///   `SocketError` naming "recv" when the call fails.
    ///
    /// Steps: loop. If `pending` holds a "\n", cut the line off the front of `pending` and
    /// return it. Otherwise `recv` into a buffer and append what arrived (only the count
    /// recv returned) to `pending`. On 0: return nil if `pending` is empty, otherwise throw
    /// `ConnectionClosed(received: pending)`.
    public mutating func readLine() throws -> [UInt8]? {
        throw NotStarted()
    }
}

/// Sends `request`, says "that is all" with `shutdown(SHUT_WR)`, then reads the reply up
/// to end-of-file, for peers that answer only once they have the whole request.
///
/// - Returns: every byte of the reply.
///
/// Steps: send every byte of `request` (the loop from lesson 3); then
/// `shutdown(fd, ShutdownHow.write)`; then `recv` and append until it returns 0.
public func requestReply(_ fd: Int32, request: [UInt8]) throws -> [UInt8] {
    throw NotStarted()
}

/// Serves one client of an echo server: sends back everything it receives until the
/// client closes its side, or says nothing for `idleTimeout` seconds; then closes the
/// connection, whatever happened.
///
/// - Throws: `SocketError` when a call fails (the connection is closed all the same).
///
/// Steps: `defer { close(connection) }` first. Set `SO_RCVTIMEO` to `idleTimeout` (a
/// `timeval`), so recv returns -1 with EAGAIN when the client is silent that long. Then
/// loop: recv; on 0 or EAGAIN return; on data, send back exactly the bytes that came.
public func serveEcho(_ connection: Int32, idleTimeout: Double) throws {
    throw NotStarted()
}
