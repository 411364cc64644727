// Known-good: the list walked with sequence(first:next:), every address turned to text with getnameinfo, SOCK_NONBLOCK at socket(), IN6_IS_ADDR_V4MAPPED tested on the bytes
import SocketKit

/// What getaddrinfo or getnameinfo returned when it failed: its own code, not an errno.
///
///     getaddrinfo failed: Name or service not known (EAI code -2)
public struct LookupError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The EAI_* code the call returned (EAI_NONAME, EAI_SERVICE, EAI_FAMILY...).
    public let code: Int32
    /// `gai_strerror(code)`: the resolver's own text for that code.
    public let text: String

    public init(code: Int32, text: String) {
        self.code = code
        self.text = text
    }

    public var description: String { "getaddrinfo failed: \(text) (EAI code \(code))" }
}


private func lookupFailure(_ code: Int32) -> LookupError {
    LookupError(code: code, text: String(cString: gai_strerror(code)))
}

/// getnameinfo on one sockaddr: numeric host and port.
private func numeric(_ address: UnsafePointer<sockaddr>, _ length: socklen_t) throws -> (host: String, port: UInt16) {
    var host = [CChar](repeating: 0, count: 1025)
    var port = [CChar](repeating: 0, count: 32)
    let code = getnameinfo(address, length, &host, socklen_t(host.count), &port, socklen_t(port.count), NI_NUMERICHOST | NI_NUMERICSERV)
    guard code == 0 else { throw lookupFailure(code) }
    let hostText = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let portText = String(decoding: port.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return (hostText, UInt16(portText) ?? 0)
}

public func resolve(host: String?, port: String, family: Int32 = AF_UNSPEC, socketType: Int32 = SocketType.stream.rawValue, flags: Int32 = 0) throws -> [SocketAddress] {
    var hints = addrinfo(ai_flags: flags, ai_family: family, ai_socktype: socketType, ai_protocol: 0, ai_addrlen: 0, ai_addr: nil, ai_canonname: nil, ai_next: nil)
    var head: UnsafeMutablePointer<addrinfo>? = nil
    let status = getaddrinfo(host, port, &hints, &head)
    if status != 0 { throw lookupFailure(status) }
    defer { freeaddrinfo(head) }
    return try sequence(first: head!) { $0.pointee.ai_next }.compactMap { node -> SocketAddress? in
        let entry = node.pointee
        guard let address = entry.ai_addr else { return nil }
        let (text, number) = try numeric(address, entry.ai_addrlen)
        switch entry.ai_family {
        case AF_INET: return .ipv4(host: text, port: number)
        case AF_INET6: return .ipv6(host: text, port: number)
        default: return nil
        }
    }
}

private func attempt(_ address: SocketAddress, _ seconds: Double) -> Result<Int32, SocketError> {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue | Int32(SOCK_NONBLOCK.rawValue), 0)
    if fd < 0 { return .failure(SocketError(call: "socket")) }
    func fail(_ error: SocketError) -> Result<Int32, SocketError> {
        _ = close(fd)
        return .failure(error)
    }
    let result: Int32
    do {
        result = try address.withSockAddr { connect(fd, $0, $1) }
    } catch {
        return fail(SocketError(call: "connect", code: EINVAL))
    }
    if result != 0 {
        if errno != EINPROGRESS { return fail(SocketError(call: "connect")) }
        var watch = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)]
        let ready = poll(&watch, 1, Int32(min((seconds * 1000).rounded(.up), 86_400_000)))
        if ready < 0 { return fail(SocketError(call: "poll")) }
        if ready == 0 { return fail(SocketError(call: "connect", code: ETIMEDOUT)) }
        var problem: Int32 = 0
        var size = socklen_t(4)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &problem, &size) != 0 { return fail(SocketError(call: "getsockopt")) }
        if problem != 0 { return fail(SocketError(call: "connect", code: problem)) }
    }
    let mode = fcntl(fd, F_GETFL)
    if mode < 0 || fcntl(fd, F_SETFL, mode & ~O_NONBLOCK) != 0 { return fail(SocketError(call: "fcntl")) }
    return .success(fd)
}

public func openConnection(toAnyOf addresses: [SocketAddress], attemptTimeout: Double) throws -> Int32 {
    var failure = SocketError(call: "connect", code: EINVAL)
    for address in addresses where address.family != .unix {
        switch attempt(address, attemptTimeout) {
        case .success(let fd): return fd
        case .failure(let error): failure = error
        }
    }
    throw failure
}

public func openConnection(host: String, port: UInt16, attemptTimeout: Double) throws -> Int32 {
    try openConnection(toAnyOf: resolve(host: host, port: "\(port)", flags: AI_NUMERICSERV), attemptTimeout: attemptTimeout)
}

public func makeDualStackListener(port: UInt16, backlog: Int32 = 16) throws -> Int32 {
    let wildcard = try resolve(host: nil, port: "\(port)", family: AF_INET6, flags: AI_PASSIVE | AI_NUMERICSERV)
    guard let address = wildcard.first else { throw SocketError(call: "getaddrinfo", code: EADDRNOTAVAIL) }
    let fd = socket(AF_INET6, SocketType.stream.rawValue, 0)
    if fd < 0 { throw SocketError(call: "socket") }
    var off: Int32 = 0, on: Int32 = 1
    let size = socklen_t(MemoryLayout<Int32>.size)
    var failed: SocketError? = nil
    if setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, size) != 0 {
        failed = SocketError(call: "setsockopt")
    } else if setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, size) != 0 {
        failed = SocketError(call: "setsockopt")
    } else if try address.withSockAddr({ bind(fd, $0, $1) }) != 0 {
        failed = SocketError(call: "bind")
    } else if listen(fd, backlog) != 0 {
        failed = SocketError(call: "listen")
    }
    if let failed {
        _ = close(fd)
        throw failed
    }
    return fd
}

public func clientAddress(of connection: Int32) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let status = withUnsafeMutableBytes(of: &storage) { raw in
        getpeername(connection, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
    }
    if status != 0 { throw SocketError(call: "getpeername") }
    if Int32(storage.ss_family) == AF_INET6 {
        let six = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) }
        let bytes = withUnsafeBytes(of: six.sin6_addr) { Array($0) }
        // ::ffff:a.b.c.d is ten zero bytes, two 0xff bytes, then the IPv4 address.
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return .ipv4(host: bytes[12...].map(String.init).joined(separator: "."), port: UInt16(bigEndian: six.sin6_port))
        }
    }
    let (text, number) = try withUnsafeBytes(of: storage) { raw in
        try numeric(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
    }
    return Int32(storage.ss_family) == AF_INET6 ? .ipv6(host: text, port: number) : .ipv4(host: text, port: number)
}
