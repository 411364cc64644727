// Lesson 3: connect to a server and send it bytes: all of them.
// Read Lessons/03-connect-send.md first. Grade with: swift test --filter Lesson03
//
// Each function below is a stub: it throws NotStarted() until you replace its body.
// `import SocketKit` brings in the C calls (socket, connect, send, poll, close, errno),
// SocketError, SocketAddress and `sendNoSignal`.
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
///
/// Steps: `socket(address.family.rawValue, SocketType.stream.rawValue, 0)`, checked; then
/// `try address.withSockAddr { pointer, length in ... }` and call `connect(fd, pointer, length)`
/// inside; it returns 0 on success. If connect fails, make the
/// SocketError first (it reads errno), then close the socket, then throw it.
public func openConnection(to address: SocketAddress) throws -> Int32 {
    throw NotStarted()
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
///
/// Steps: inside `address.withSockAddr`, call connect; return 0 when it returned 0, and
/// `errno` (not -1!) when it failed.
public func connectEx(_ fd: Int32, to address: SocketAddress) throws -> Int32 {
    throw NotStarted()
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
///
/// Steps: first `try suppressSIGPIPE(on: fd)` (macOS needs it; on Linux it does nothing).
/// Keep a count `sent`. While `sent < bytes.count`, call
/// `send(fd, pointer + sent, bytes.count - sent, sendNoSignal)` (inside
/// `bytes.withUnsafeBytes`) and add what it returned. On -1: retry on EINTR; on EAGAIN,
/// wait with `poll` for POLLOUT and retry; otherwise throw `SocketError(call: "send")`.
public func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    throw NotStarted()
}

/// Sends `text` encoded as UTF-8: every byte of it.
///
/// `text.count` counts Characters, not bytes: "你好" is 2 Characters and 6 UTF-8 bytes.
/// Every byte means every one: a NUL ("\u{0}") inside the text is sent too, and an empty
/// text sends nothing.
///
/// Steps: `Array(text.utf8)` gives the bytes; send them all.
public func sendText(_ fd: Int32, _ text: String) throws {
    throw NotStarted()
}
