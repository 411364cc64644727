// Lesson 1: create a socket, ask the kernel what it is, close it.
// Read Lessons/01-create.md first. Grade with: swift test --filter Lesson01
//
// Each function below is a stub: it throws NotStarted() until you replace its body.
// Everything you need is in scope through `import SocketKit` (it re-exports Glibc on
// Linux and Darwin on macOS): socket, getsockopt, close, errno, SocketError, AddressFamily...
import SocketKit

/// Creates a socket, like Python's `socket.socket(family, type)`.
///
/// - Returns: the new socket's file descriptor: a small number that names the socket
///   in every later call.
/// - Throws: `SocketError` naming "socket" when the call fails (it returns -1 and sets errno).
///
/// Steps: call `socket(family.rawValue, type.rawValue, 0)`. If it returned -1, throw
/// `SocketError(call: "socket")` straight away (that reads errno). Otherwise return it.
public func openSocket(family: AddressFamily, type: SocketType) throws -> Int32 {
    throw NotStarted()
}

/// Asks the kernel which type of socket `fd` is: `getsockopt(fd, SOL_SOCKET, SO_TYPE)`.
///
/// - Throws: `SocketError` naming "getsockopt" when the call fails (for example EBADF
///   when `fd` is not open, ENOTSOCK when it is not a socket). `fd` stays open either way:
///   it belongs to the caller.
///
/// Steps: make an `Int32` variable for the answer and a `socklen_t` holding its size;
/// pass both with `&`. getsockopt returns 0 on success and -1 on failure.
/// Return `SocketType(rawValue: answer)`.
public func socketType(of fd: Int32) throws -> SocketType {
    throw NotStarted()
}

/// Asks the kernel which address family `fd` belongs to.
///
/// - Throws: `SocketError` when the call fails (for example EBADF when `fd` is not open,
///   ENOTSOCK when it is not a socket). `fd` stays open either way.
///
/// Steps: on Linux, the same as `socketType(of:)` with `SO_DOMAIN` instead of `SO_TYPE`,
/// returning `AddressFamily(rawValue: answer)`. (macOS has no SO_DOMAIN: the lesson shows
/// the getsockname way, inside `#if os(Linux) ... #else ... #endif`.)
public func socketFamily(of fd: Int32) throws -> AddressFamily {
    throw NotStarted()
}

/// Closes the socket: its descriptor is free for reuse afterwards.
///
/// - Throws: `SocketError` naming "close" when the call fails (EBADF: `fd` was not open).
///   Call close once: once it has begun, the number may already belong to someone else's file.
///
/// Steps: call `close(fd)`; it returns 0 on success and -1 on failure.
public func closeSocket(_ fd: Int32) throws {
    throw NotStarted()
}
