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
/// never more than asked); this loops until it has `count`. `count` may be 0 (then it
/// returns [] at once, without calling recv) or far more than 65,535. It takes no more than
/// `count` bytes out of the socket: what follows stays there for the next call. The socket
/// stays open: it is the caller's.
///
/// - Throws: `ConnectionClosed` when the peer closes first (recv returns 0), with exactly
///   the bytes that had arrived; `SocketError` naming "recv" when the call fails (recv
///   returns -1: ECONNRESET, EBADF, ENOTCONN...). Look at errno only after a -1.
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
/// this one: reading exactly 4 bytes, then exactly `length`, handles both. A length may be
/// 0 (an empty message: return []) or more than 65,535: all 4 bytes count.
///
/// - Throws: `ConnectionClosed` when the peer closes before the whole message (prefix
///   included) has come; `SocketError` when recv fails.
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
    ///
    /// Steps: loop. If `pending` holds a "\n", cut the line off the front of `pending` and
    /// return it. Otherwise `recv` into a buffer and append what arrived (only the count
    /// recv returned) to `pending`. On 0: return nil if `pending` is empty, otherwise throw
    /// `ConnectionClosed(received: pending)`. On -1: EINTR, again; otherwise throw.
    public mutating func readLine() throws -> [UInt8]? {
        throw NotStarted()
    }
}

/// Sends `request`, says "that is all" with `shutdown(SHUT_WR)`, then reads the reply up
/// to end-of-file, for peers that answer only once they have the whole request.
///
/// - Returns: every byte of the reply (maybe none). The socket stays open: it is the caller's.
/// - Throws: `SocketError` when a call fails (the peer reset or closed the connection:
///   ECONNRESET, EPIPE). A send to a connection that is gone must throw, never kill the
///   program with SIGPIPE: pass `sendNoSignal`.
///
/// Steps: send every byte of `request` with the loop from lesson 3's sendAll: `send` may
/// take only part of the bytes, so go on from where it stopped; if it fails with EAGAIN
/// (the socket has a send timeout, or is non-blocking, and the peer reads slowly), wait
/// with `poll` for POLLOUT, then go on; EINTR: again. Then `shutdown(fd, ShutdownHow.write)`;
/// then `recv` and append until it returns 0.
public func requestReply(_ fd: Int32, request: [UInt8]) throws -> [UInt8] {
    throw NotStarted()
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
///
/// Steps: `defer { close(connection) }` first, before anything can throw; it is the one
/// close. Set `SO_RCVTIMEO` to `idleTimeout` (a `timeval`: whole seconds and the rest in
/// microseconds), so recv returns -1 with EAGAIN when the client is silent that long. Then
/// loop: recv (EINTR: again); on 0 or EAGAIN return; on data, send back exactly the bytes
/// that came, with the same send loop as `requestReply` (an EAGAIN from send means the
/// client reads slowly: wait with poll; it is not the idle timeout). Pass `sendNoSignal`:
/// a client that is gone must not kill the server with SIGPIPE.
public func serveEcho(_ connection: Int32, idleTimeout: Double) throws {
    throw NotStarted()
}
