// Known-good: getsockname for the family on every platform, getsockopt through withUnsafeMutableBytes, switch on results
// Lesson 1: create a socket, ask the kernel what it is, close it.
// Read Lessons/01-create.md first. Grade with: swift test --filter Lesson01
import SocketKit

/// Creates a socket, like Python's `socket.socket(family, type)`.
///
/// - Returns: the new socket's file descriptor: a small number that names the socket
///   in every later call.
/// - Throws: `SocketError` naming "socket" when the call fails (it returns -1 and sets errno).
public func openSocket(family: AddressFamily, type: SocketType) throws -> Int32 {
    switch socket(family.rawValue, type.rawValue, 0) {
    case -1: throw SocketError(call: "socket")
    case let fd: return fd
    }
}

/// Asks the kernel which type of socket `fd` is: `getsockopt(fd, SOL_SOCKET, SO_TYPE)`.
///
/// - Throws: `SocketError` naming "getsockopt" when the call fails (for example EBADF
///   when `fd` is not open).
public func socketType(of fd: Int32) throws -> SocketType {
    var answer = Int32(0)
    var size = socklen_t(MemoryLayout.size(ofValue: answer))
    let status = withUnsafeMutableBytes(of: &answer) { raw in
        getsockopt(fd, SOL_SOCKET, SO_TYPE, raw.baseAddress, &size)
    }
    switch status {
    case 0: return SocketType(rawValue: answer)
    default: throw SocketError(call: "getsockopt")
    }
}

/// Asks the kernel which address family `fd` belongs to.
///
/// - Throws: `SocketError` when the call fails (for example EBADF when `fd` is not open).
public func socketFamily(of fd: Int32) throws -> AddressFamily {
    // Every socket has a local address, even before bind; its first field is the family.
    // This works on Linux and macOS alike, so no #if is needed.
    var storage = sockaddr_storage()
    var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let status = withUnsafeMutableBytes(of: &storage) { raw in
        getsockname(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &size)
    }
    guard status == 0 else { throw SocketError(call: "getsockname") }
    return AddressFamily(rawValue: Int32(storage.ss_family))
}

/// Closes the socket: its descriptor is free for reuse afterwards.
///
/// - Throws: `SocketError` naming "close" when the call fails (EBADF: `fd` was not open).
public func closeSocket(_ fd: Int32) throws {
    // One attempt only: the descriptor is gone afterwards whatever close says.
    if close(fd) != 0 { throw SocketError(call: "close") }
}
