// Known-good: the host parsed before any socket exists, poll (no timeout) before accept, EINTR and ECONNABORTED retried, addresses decoded by hand for IPv4 and IPv6 with inet_ntop, recursion for the retries.
import SocketKit

public func makeListener(host: String, port: UInt16, backlog: Int32 = 16) throws -> Int32 {
    // Parse first: a host that is not an address costs no socket at all.
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(port).bigEndian
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
        throw SocketError(call: "inet_pton", code: EINVAL)
    }
    let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    func fail(_ call: String) -> SocketError {
        let error = SocketError(call: call)
        _ = close(fd)
        return error
    }
    var reuse: Int32 = 1
    guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size)) == 0 else { throw fail("setsockopt") }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw fail("bind") }
    guard listen(fd, backlog) == 0 else { throw fail("listen") }
    return fd
}

public func acceptConnection(on listener: Int32) throws -> (connection: Int32, peer: SocketAddress) {
    var waiting = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
    if poll(&waiting, 1, -1) < 0 {
        if errno == EINTR { return try acceptConnection(on: listener) }
        throw SocketError(call: "poll")
    }
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let connection = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener, $0, &length) }
    }
    if connection < 0 {
        let error = SocketError(call: "accept")
        if error.code == EINTR || error.code == ECONNABORTED { return try acceptConnection(on: listener) }
        throw error
    }
    do {
        return (connection, try decode(storage))
    } catch {
        _ = close(connection)
        throw error
    }
}

public func boundAddress(of fd: Int32) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let result = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard result == 0 else { throw SocketError(call: "getsockname") }
    return try decode(storage)
}

/// ss_family first, then the struct of that family.
private func decode(_ storage: sockaddr_storage) throws -> SocketAddress {
    switch Int32(storage.ss_family) {
    case AF_INET:
        let sin = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) }
        return .ipv4(host: try text(AF_INET, sin.sin_addr, Int(INET_ADDRSTRLEN)), port: UInt16(bigEndian: sin.sin_port))
    case AF_INET6:
        let sin6 = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) }
        return .ipv6(host: try text(AF_INET6, sin6.sin6_addr, Int(INET6_ADDRSTRLEN)), port: UInt16(bigEndian: sin6.sin6_port))
    default:
        throw SocketError(call: "decode", code: EAFNOSUPPORT)
    }
}

private func text<Address>(_ family: Int32, _ address: Address, _ size: Int) throws -> String {
    var buffer = [CChar](repeating: 0, count: size)
    let converted = withUnsafeBytes(of: address) { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(size)) }
    guard converted != nil else { throw SocketError(call: "inet_ntop") }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
