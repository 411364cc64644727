// Lesson 1: create a socket, ask the kernel what it is, close it.
// Read Lessons/01-create.md first. Grade with: swift test --filter Lesson01
import SocketKit

/// Creates a socket, like Python's `socket.socket(family, type)`.
///
/// - Returns: the new socket's file descriptor: a small number that names the socket
///   in every later call.
/// - Throws: `SocketError` naming "socket" when the call fails (it returns -1 and sets errno).
public func openSocket(family: AddressFamily, type: SocketType) throws -> Int32 {
    // The third argument, the protocol, is 0: "the usual one for this family and type"
    // (TCP for a stream, UDP for datagrams).
    let fd = socket(family.rawValue, type.rawValue, 0)
    guard fd >= 0 else {
        // Read errno now: any later call may overwrite it.
        throw SocketError(call: "socket")
    }
    return fd
}

/// Asks the kernel which type of socket `fd` is: `getsockopt(fd, SOL_SOCKET, SO_TYPE)`.
///
/// - Throws: `SocketError` naming "getsockopt" when the call fails (for example EBADF
///   when `fd` is not open, ENOTSOCK when it is not a socket). `fd` stays open either way:
///   it belongs to the caller.
public func socketType(of fd: Int32) throws -> SocketType {
    var value: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &length) == 0 else {
        throw SocketError(call: "getsockopt")
    }
    return SocketType(rawValue: value)
}

/// Asks the kernel which address family `fd` belongs to.
///
/// - Throws: `SocketError` when the call fails (for example EBADF when `fd` is not open,
///   ENOTSOCK when it is not a socket). `fd` stays open either way.
public func socketFamily(of fd: Int32) throws -> AddressFamily {
    #if os(Linux)
    // Linux answers the question directly with SO_DOMAIN.
    var value: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &length) == 0 else {
        throw SocketError(call: "getsockopt")
    }
    return AddressFamily(rawValue: value)
    #else
    // macOS has no SO_DOMAIN. Every socket has a local address, even before bind, and the
    // address's first field is its family: getsockname tells us.
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let result = withUnsafeMutablePointer(to: &storage) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard result == 0 else { throw SocketError(call: "getsockname") }
    return AddressFamily(rawValue: Int32(storage.ss_family))
    #endif
}

/// Closes the socket: its descriptor is free for reuse afterwards.
///
/// - Throws: `SocketError` naming "close" when the call fails (EBADF: `fd` was not open).
///   Call close once: once it has begun, the number may already belong to someone else's file.
public func closeSocket(_ fd: Int32) throws {
    // Never retry close, even on EINTR: on Linux the descriptor is gone either way, and
    // a retry could close a descriptor another thread has just been given.
    guard close(fd) == 0 else { throw SocketError(call: "close") }
}
