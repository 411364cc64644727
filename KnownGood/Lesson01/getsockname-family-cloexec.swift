// Known-good: one checking helper for every call, SOCK_CLOEXEC added to the type, SO_TYPE read into an 8-byte Int, the family from getsockname (the macOS way) on every platform.
import SocketKit

/// Turns a C result into a value or a SocketError for `call`, reading errno at once.
@inline(__always)
private func checked(_ result: Int32, _ call: String) throws -> Int32 {
    if result == -1 { throw SocketError(call: call) }
    return result
}

public func openSocket(family: AddressFamily, type: SocketType) throws -> Int32 {
    #if canImport(Glibc)
    let closeOnExec = Int32(SOCK_CLOEXEC.rawValue)
    #else
    let closeOnExec: Int32 = 0
    #endif
    return try checked(socket(family.rawValue, type.rawValue | closeOnExec, 0), "socket")
}

public func socketType(of fd: Int32) throws -> SocketType {
    // A wider variable than needed: the kernel writes 4 bytes and says so in `length`.
    var value = 0
    var length = socklen_t(MemoryLayout<Int>.size)
    _ = try withUnsafeMutableBytes(of: &value) { raw in
        try checked(getsockopt(fd, SOL_SOCKET, SO_TYPE, raw.baseAddress, &length), "getsockopt")
    }
    return SocketType(rawValue: Int32(truncatingIfNeeded: value))
}

public func socketFamily(of fd: Int32) throws -> AddressFamily {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    _ = try withUnsafeMutablePointer(to: &storage) { pointer in
        try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
            try checked(getsockname(fd, address, &length), "getsockname")
        }
    }
    return AddressFamily(rawValue: Int32(storage.ss_family))
}

public func closeSocket(_ fd: Int32) throws {
    switch close(fd) {
    case 0: return
    default: throw SocketError(call: "close")
    }
}
