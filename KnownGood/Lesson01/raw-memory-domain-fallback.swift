// Known-good: option values in manually allocated raw memory, SO_DOMAIN with a getsockname fallback when the option is missing (ENOPROTOOPT), errors captured in a do/catch that rethrows, close through LibC.
import SocketKit

public func openSocket(family: AddressFamily, type: SocketType) throws -> Int32 {
    let descriptor = socket(family.rawValue, type.rawValue, 0)
    if descriptor < 0 {
        let error = SocketError(call: "socket")  // errno first, before anything else runs
        throw error
    }
    return descriptor
}

/// Reads an Int32 option into memory allocated for the purpose.
private func readOption(_ fd: Int32, _ name: Int32) throws -> Int32 {
    let memory = UnsafeMutableRawPointer.allocate(byteCount: 4, alignment: 4)
    defer { memory.deallocate() }
    memory.storeBytes(of: Int32(0), as: Int32.self)
    var length: socklen_t = 4
    if getsockopt(fd, SOL_SOCKET, name, memory, &length) != 0 {
        throw SocketError(call: "getsockopt")
    }
    return memory.load(as: Int32.self)
}

public func socketType(of fd: Int32) throws -> SocketType {
    let raw = try readOption(fd, SO_TYPE)
    return SocketType(rawValue: raw)
}

public func socketFamily(of fd: Int32) throws -> AddressFamily {
    #if os(Linux)
    do {
        return AddressFamily(rawValue: try readOption(fd, SO_DOMAIN))
    } catch let error as SocketError where error.code == ENOPROTOOPT {
        // An old kernel without SO_DOMAIN: fall through to the local address.
    }
    #endif
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let status = withUnsafeMutableBytes(of: &storage) { raw in
        getsockname(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
    }
    guard status == 0 else { throw SocketError(call: "getsockname") }
    return AddressFamily(rawValue: Int32(storage.ss_family))
}

public func closeSocket(_ fd: Int32) throws {
    let status = LibC.close(fd)
    if status != 0 {
        throw SocketError(call: "close")
    }
}
