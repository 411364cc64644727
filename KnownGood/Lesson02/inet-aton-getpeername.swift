// Known-good: inet_aton instead of inet_pton, the memberwise sockaddr_in initializer, bind through withUnsafeBytes, cleanup by a defer with a success flag, accept with no address buffer and FD_CLOEXEC set after it (the peer comes from getpeername), getsockname into a [UInt8] buffer.
import SocketKit

public func makeListener(host: String, port: UInt16, backlog: Int32 = 16) throws -> Int32 {
    let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
    if fd == -1 { throw SocketError(call: "socket") }
    var succeeded = false
    defer { if !succeeded { _ = close(fd) } }

    var yes: Int32 = 1
    if setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout.size(ofValue: yes))) == -1 {
        throw SocketError(call: "setsockopt")
    }
    var parsed = in_addr()
    if inet_aton(host, &parsed) == 0 {  // 0: not an address (inet_aton never sets errno)
        throw SocketError(call: "inet_aton", code: EINVAL)
    }
    #if canImport(Darwin)
    let address = sockaddr_in(sin_len: 16, sin_family: sa_family_t(AF_INET), sin_port: port.bigEndian, sin_addr: parsed, sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
    #else
    let address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: port.bigEndian, sin_addr: parsed, sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
    #endif
    let status = withUnsafeBytes(of: address) { raw in
        bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
    }
    if status == -1 { throw SocketError(call: "bind") }
    if listen(fd, backlog) == -1 { throw SocketError(call: "listen") }
    succeeded = true
    return fd
}

public func acceptConnection(on listener: Int32) throws -> (connection: Int32, peer: SocketAddress) {
    let connection = accept(listener, nil, nil)
    if connection == -1 { throw SocketError(call: "accept") }
    do {
        if fcntl(connection, F_SETFD, FD_CLOEXEC) == -1 { throw SocketError(call: "fcntl") }
        return (connection, try address(of: connection, getpeername, "getpeername"))
    } catch {
        _ = close(connection)
        throw error
    }
}

public func boundAddress(of fd: Int32) throws -> SocketAddress {
    try address(of: fd, getsockname, "getsockname")
}

/// getsockname or getpeername into a plain byte buffer, copied into a sockaddr_storage.
private func address(
    of fd: Int32, _ ask: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32, _ call: String
) throws -> SocketAddress {
    var bytes = [UInt8](repeating: 0, count: MemoryLayout<sockaddr_storage>.size)
    var length = socklen_t(bytes.count)
    let status = bytes.withUnsafeMutableBytes { raw in
        ask(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
    }
    if status == -1 { throw SocketError(call: call) }
    var storage = sockaddr_storage()
    withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: bytes) }
    return try SocketAddress(storage: storage, length: length)
}
