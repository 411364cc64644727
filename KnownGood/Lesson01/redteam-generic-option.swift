// Known-good: one generic getsockopt helper returning Result, errno captured into a typed error at once
// Lesson 1: create a socket, ask the kernel what it is, close it.
// Read Lessons/01-create.md first. Grade with: swift test --filter Lesson01
import SocketKit

/// Runs a C call that returns -1 on failure, turning that into a SocketError built at once.
private func checked(_ call: String, _ body: () -> Int32) -> Result<Int32, SocketError> {
    let value = body()
    return value == -1 ? .failure(SocketError(call: call)) : .success(value)
}

/// Reads one integer option at SOL_SOCKET level.
private func integerOption(_ fd: Int32, _ name: Int32) -> Result<Int32, SocketError> {
    var answer: Int32 = 0
    var size = socklen_t(MemoryLayout<Int32>.size)
    return checked("getsockopt") {
        withUnsafeMutablePointer(to: &answer) { getsockopt(fd, SOL_SOCKET, name, $0, &size) }
    }.map { _ in answer }
}

/// Creates a socket, like Python's `socket.socket(family, type)`.
///
/// - Returns: the new socket's file descriptor: a small number that names the socket
///   in every later call.
/// - Throws: `SocketError` naming "socket" when the call fails (it returns -1 and sets errno).
public func openSocket(family: AddressFamily, type: SocketType) throws -> Int32 {
    try checked("socket") { socket(family.rawValue, type.rawValue, 0) }.get()
}

/// Asks the kernel which type of socket `fd` is: `getsockopt(fd, SOL_SOCKET, SO_TYPE)`.
///
/// - Throws: `SocketError` naming "getsockopt" when the call fails (for example EBADF
///   when `fd` is not open).
public func socketType(of fd: Int32) throws -> SocketType {
    SocketType(rawValue: try integerOption(fd, SO_TYPE).get())
}

/// Asks the kernel which address family `fd` belongs to.
///
/// - Throws: `SocketError` when the call fails (for example EBADF when `fd` is not open).
public func socketFamily(of fd: Int32) throws -> AddressFamily {
    #if os(Linux)
    return AddressFamily(rawValue: try integerOption(fd, SO_DOMAIN).get())
    #else
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    _ = try checked("getsockname") {
        withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
    }.get()
    return AddressFamily(rawValue: Int32(storage.ss_family))
    #endif
}

/// Closes the socket: its descriptor is free for reuse afterwards.
///
/// - Throws: `SocketError` naming "close" when the call fails (EBADF: `fd` was not open).
public func closeSocket(_ fd: Int32) throws {
    _ = try checked("close") { close(fd) }.get()
}
