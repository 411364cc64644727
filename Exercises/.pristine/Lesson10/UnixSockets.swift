// Lesson 10: Unix domain sockets: a listener at a path, a client, datagrams, and who the peer is.
// Read Lessons/10-unix.md first. Grade with: swift run workbook check 10
//
// Each function below is a stub: it throws NotStarted() until you replace its body.
// `import SocketKit` brings in the C calls (socket, bind, listen, connect, lstat, unlink,
// umask, getsockopt, sendto, recv, poll, close), `sockaddr_un`, SocketError,
// UnixPathTooLong, PeerCredentials and `unixPathCapacity`; `import Foundation` brings NSLock.
import Foundation
import SocketKit

/// Makes a stream socket that listens at the filesystem path `path` (AF_UNIX, SOCK_STREAM),
/// like Python's `s = socket.socket(AF_UNIX, SOCK_STREAM); s.bind(path); s.listen(backlog)`.
///
/// - Parameters:
///   - path: where the socket file goes. Its UTF-8 bytes must fit in `sockaddr_un.sun_path`
///     with a terminating NUL: at most `unixPathCapacity - 1` bytes (107 on Linux, 103 on
///     macOS). A longer path throws `UnixPathTooLong` before anything is created: never
///     bind a shortened path.
///   - backlog: given to `listen` as it is.
///   - permissions: the socket file's mode (such as 0o600: only its owner may connect).
///     The file has exactly this mode, whatever the process's umask, from the moment it
///     exists: never wider, not even for an instant (so no chmod after bind). Set the
///     umask to `0o777 & ~permissions` around bind and restore it at once. The umask is
///     the whole process's: change it under a lock, and leave it as you found it.
/// - Returns: the listening socket. The socket file stays until `closeUnixListener`.
/// - Throws: `UnixPathTooLong`; otherwise `SocketError` naming the call that failed. When
///   something is already at `path`, bind fails with EADDRINUSE, and then:
///   - a socket file nobody answers on (connect to it is refused: its server is gone) is
///     stale: remove it (unlink) and bind again, once. Make that probing socket
///     non-blocking (fcntl O_NONBLOCK): a live server with a full queue would keep a
///     blocking connect waiting; non-blocking, it fails at once with EAGAIN (alive);
///   - a socket a server still answers on: throw `SocketError(call: "bind", code: EADDRINUSE)`
///     and leave it alone;
///   - anything else (a regular file, a directory, a symbolic link, even one that points to
///     a socket): throw the same, and leave it alone. Look with `lstat`, which does not
///     follow links, never with `stat`.
///   Nothing is left open, and no file of this call's is left at `path`, when it throws.
///
/// Steps: check the length; `socket(AF_UNIX, SocketType.stream.rawValue, 0)`; a
/// `sockaddr_un` with `sun_family = sa_family_t(AF_UNIX)` and the path's bytes copied into
/// `sun_path` (`withUnsafeMutableBytes(of: &address.sun_path)`); umask, bind, umask back;
/// on EADDRINUSE the stale check above; `listen`.
public func makeUnixListener(path: String, backlog: Int32 = 16, permissions: mode_t = 0o600) throws -> Int32 {
    throw NotStarted()
}

/// Closes a listener made by `makeUnixListener` and removes its socket file, so that the
/// next server finds nothing stale at `path`. Call it once, when the server stops.
///
/// - Throws: `SocketError` naming "unlink" (for instance ENOENT when the file is already
///   gone) or "close". The descriptor is closed either way.
public func closeUnixListener(_ listener: Int32, path: String) throws {
    throw NotStarted()
}

/// Connects a new stream socket to the server listening at `path`, like Python's
/// `s = socket.socket(AF_UNIX, SOCK_STREAM); s.connect(path)`.
///
/// - Returns: the connected socket.
/// - Throws: `UnixPathTooLong` for a path that does not fit (nothing is created);
///   `SocketError` naming "connect" when nobody listens there: ENOENT (no file),
///   ECONNREFUSED (a stale socket file, or a file that is not a socket), EACCES (the file's
///   permissions do not let you write to it). Nothing is left open when it throws.
public func connectUnix(path: String) throws -> Int32 {
    throw NotStarted()
}

/// Sends `request` as one datagram to the datagram socket bound at `serverPath`, and returns
/// the one datagram it answers with.
///
/// A Unix datagram socket that is not bound has no address: the server could not answer it.
/// So bind the client's socket to `clientPath` first (nothing may be there yet: if
/// something is, throw bind's EADDRINUSE and leave it alone), and remove that file again
/// (unlink) before returning or throwing.
///
/// - Parameters:
///   - request: the datagram's bytes (0 to 60,000 of them).
///   - timeout: the most seconds to wait for the reply (more than 0; fractions allowed).
/// - Returns: the first datagram that arrives, exactly (0 to 65,536 bytes).
/// - Throws: `UnixPathTooLong` when either path does not fit; `SocketError(call: "recv",
///   code: ETIMEDOUT)` when no reply came within `timeout`; otherwise `SocketError` naming
///   the call that failed ("sendto" with ENOENT or ECONNREFUSED when no server is bound
///   at `serverPath`). Nothing is left open, and no file at `clientPath`, when it returns
///   or throws (except what was there before the call).
public func unixDatagramRequest(_ request: [UInt8], to serverPath: String, from clientPath: String, timeout: Double) throws -> [UInt8] {
    throw NotStarted()
}

/// Who is at the other end of the connected Unix stream socket `fd`: the process id, user id
/// and group id the kernel recorded when the connection was made.
///
/// Linux: `getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ...)` fills a `struct ucred`, which Swift
/// does not import: declare your own struct of three fields in this order: pid (Int32),
/// uid (UInt32), gid (UInt32), 12 bytes in all. macOS: `getpeereid(fd, &uid, &gid)`, and
/// the pid from `LOCAL_PEERPID` (level SOL_LOCAL).
///
/// - Throws: `SocketError` naming "getsockopt" (EBADF for a closed descriptor, ENOTSOCK for
///   something that is not a socket).
public func peerCredentials(of fd: Int32) throws -> PeerCredentials {
    throw NotStarted()
}
