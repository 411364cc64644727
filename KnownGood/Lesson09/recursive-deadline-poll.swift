// Known-good: recursion over the addresses, one deadline per attempt kept across EINTR, ioctl FIONBIO for non-blocking mode, SocketAddress(storage:length:) with memcpy
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


public func resolve(host: String?, port: String, family: Int32 = AF_UNSPEC, socketType: Int32 = SocketType.stream.rawValue, flags: Int32 = 0) throws -> [SocketAddress] {
    var hints = addrinfo()
    hints.ai_family = family
    hints.ai_socktype = socketType
    hints.ai_flags = flags
    var first: UnsafeMutablePointer<addrinfo>?
    let code = getaddrinfo(host, port, &hints, &first)
    if code != 0 { throw LookupError(code: code, text: String(cString: gai_strerror(code))) }
    defer { freeaddrinfo(first) }
    func collect(_ node: UnsafeMutablePointer<addrinfo>?) throws -> [SocketAddress] {
        guard let node else { return [] }
        var here: [SocketAddress] = []
        if let source = node.pointee.ai_addr, node.pointee.ai_family == AF_INET || node.pointee.ai_family == AF_INET6 {
            var storage = sockaddr_storage()
            let count = min(Int(node.pointee.ai_addrlen), MemoryLayout<sockaddr_storage>.size)
            _ = withUnsafeMutableBytes(of: &storage) { memcpy($0.baseAddress!, source, count) }
            here.append(try SocketAddress(storage: storage, length: socklen_t(count)))
        }
        return here + (try collect(node.pointee.ai_next))
    }
    return try collect(first)
}

private func now() -> Double {
    var clock = timespec()
    clock_gettime(CLOCK_MONOTONIC, &clock)
    return Double(clock.tv_sec) + Double(clock.tv_nsec) / 1e9
}

private func setNonBlocking(_ fd: Int32, _ on: Bool) -> Bool {
    var flag: Int32 = on ? 1 : 0
    return ioctl(fd, UInt(FIONBIO), &flag) == 0
}

private func tryOne(_ address: SocketAddress, _ seconds: Double) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    var keep = false
    defer { if !keep { _ = close(fd) } }
    guard setNonBlocking(fd, true) else { throw SocketError(call: "ioctl") }
    let started: Int32
    do {
        started = try address.withSockAddr { connect(fd, $0, $1) }
    } catch {
        throw SocketError(call: "connect", code: EINVAL)
    }
    if started != 0 {
        guard errno == EINPROGRESS else { throw SocketError(call: "connect") }
        let deadline = now() + seconds
        while true {
            let left = deadline - now()
            if left <= 0 { throw SocketError(call: "connect", code: ETIMEDOUT) }
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&entry, 1, Int32((left * 1000).rounded(.up)))
            if ready < 0 && errno == EINTR { continue }
            guard ready >= 0 else { throw SocketError(call: "poll") }
            if ready == 0 { continue }  // the loop head decides whether time is up
            break
        }
        var pending: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &length) == 0 else { throw SocketError(call: "getsockopt") }
        guard pending == 0 else { throw SocketError(call: "connect", code: pending) }
    }
    guard setNonBlocking(fd, false) else { throw SocketError(call: "ioctl") }
    keep = true
    return fd
}

private func connectFirst(_ rest: ArraySlice<SocketAddress>, _ seconds: Double, _ last: SocketError) throws -> Int32 {
    guard let address = rest.first else { throw last }
    do {
        return try tryOne(address, seconds)
    } catch let error as SocketError {
        return try connectFirst(rest.dropFirst(), seconds, error)
    }
}

public func openConnection(toAnyOf addresses: [SocketAddress], attemptTimeout: Double) throws -> Int32 {
    try connectFirst(addresses[...], attemptTimeout, SocketError(call: "connect", code: EINVAL))
}

public func openConnection(host: String, port: UInt16, attemptTimeout: Double) throws -> Int32 {
    let found = try resolve(host: host, port: String(port), family: AF_UNSPEC, socketType: SocketType.stream.rawValue, flags: AI_NUMERICSERV)
    return try openConnection(toAnyOf: found, attemptTimeout: attemptTimeout)
}

public func makeDualStackListener(port: UInt16, backlog: Int32 = 16) throws -> Int32 {
    let candidates = try resolve(host: nil, port: String(port), family: AF_INET6, socketType: SocketType.stream.rawValue, flags: AI_PASSIVE)
    guard let wildcard = candidates.first(where: { $0.family == .inet6 }) else { throw SocketError(call: "getaddrinfo", code: EADDRNOTAVAIL) }
    let fd = socket(AF_INET6, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    do {
        for (level, name, value, label) in [(Int32(IPPROTO_IPV6), IPV6_V6ONLY, Int32(0), "setsockopt(IPV6_V6ONLY)"), (SOL_SOCKET, SO_REUSEADDR, Int32(1), "setsockopt(SO_REUSEADDR)")] {
            var value = value
            guard setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else { throw SocketError(call: label) }
        }
        try wildcard.withSockAddr { pointer, length in
            guard bind(fd, pointer, length) == 0 else { throw SocketError(call: "bind") }
        }
        guard listen(fd, backlog) == 0 else { throw SocketError(call: "listen") }
    } catch {
        _ = close(fd)
        throw error
    }
    return fd
}

public func clientAddress(of connection: Int32) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let status = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(connection, $0, &length) } }
    guard status == 0 else { throw SocketError(call: "getpeername") }
    var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    let code = withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getnameinfo($0, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) }
    }
    guard code == 0 else { throw LookupError(code: code, text: String(cString: gai_strerror(code))) }
    let text = String(cString: host)
    let address = try SocketAddress(storage: storage, length: length)  // for the port, in host order
    let port = address.port ?? 0
    let prefix = "::ffff:"
    if address.family == .inet6, text.hasPrefix(prefix), !text.dropFirst(prefix.count).contains(":") {
        return .ipv4(host: String(text.dropFirst(prefix.count)), port: port)
    }
    return address.family == .inet6 ? .ipv6(host: text, port: port) : .ipv4(host: text, port: port)
}
