// Known-good: errno cleared before every call and Swift's Result type around each one; the option read into an [Int32] buffer; EINTR retried by recursion in openSocket; Foundation imported.
import Foundation
import SocketKit

private func attempt(_ call: String, _ body: () -> Int32) -> Result<Int32, SocketError> {
    errno = 0
    let value = body()
    return value == -1 ? .failure(SocketError(call: call)) : .success(value)
}

public func openSocket(family: AddressFamily, type: SocketType) throws -> Int32 {
    let result = attempt("socket") { socket(family.rawValue, type.rawValue, 0) }
    if case .failure(let error) = result, error.code == EINTR {
        return try openSocket(family: family, type: type)  // interrupted before it began: ask again
    }
    return try result.get()
}

private func intOption(_ fd: Int32, _ name: Int32) throws -> Int32 {
    var buffer: [Int32] = [0]
    var length = socklen_t(MemoryLayout<Int32>.size)
    let result = buffer.withUnsafeMutableBufferPointer { pointer in
        attempt("getsockopt") { getsockopt(fd, SOL_SOCKET, name, pointer.baseAddress, &length) }
    }
    _ = try result.get()
    return buffer[0]
}

public func socketType(of fd: Int32) throws -> SocketType {
    SocketType(rawValue: try intOption(fd, SO_TYPE))
}

public func socketFamily(of fd: Int32) throws -> AddressFamily {
    #if os(Linux)
    return AddressFamily(rawValue: try intOption(fd, SO_DOMAIN))
    #else
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let result = withUnsafeMutablePointer(to: &storage) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
            attempt("getsockname") { getsockname(fd, address, &length) }
        }
    }
    _ = try result.get()
    return AddressFamily(rawValue: Int32(storage.ss_family))
    #endif
}

public func closeSocket(_ fd: Int32) throws {
    // Never retried: after close the number may already be someone else's.
    _ = try attempt("close") { LibC.close(fd) }.get()
}
