// Known-good: the addrinfo list owned by a class whose deinit frees it, each attempt a blocking connect bounded by SO_SNDTIMEO (Linux: EINPROGRESS when it runs out), ioctl FIONBIO nowhere needed
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


/// getaddrinfo's list, freed when the last reference goes.
private final class AddressList {
    let head: UnsafeMutablePointer<addrinfo>?
    init(_ host: String?, _ port: String, _ hints: addrinfo) throws {
        var hints = hints
        var head: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, port, &hints, &head)
        guard code == 0 else { throw LookupError(code: code, text: String(cString: gai_strerror(code))) }
        self.head = head
    }
    deinit { freeaddrinfo(head) }

    var entries: [addrinfo] {
        var all: [addrinfo] = []
        var next = head
        while let node = next {
            all.append(node.pointee)
            next = node.pointee.ai_next
        }
        return all
    }
}

public func resolve(host: String?, port: String, family: Int32 = AF_UNSPEC, socketType: Int32 = SocketType.stream.rawValue, flags: Int32 = 0) throws -> [SocketAddress] {
    var hints = addrinfo()
    (hints.ai_family, hints.ai_socktype, hints.ai_flags) = (family, socketType, flags)
    let list = try AddressList(host, port, hints)
    var result: [SocketAddress] = []
    for entry in list.entries {
        guard let raw = entry.ai_addr else { continue }
        if entry.ai_family == AF_INET {
            let four = UnsafeRawPointer(raw).load(as: sockaddr_in.self)
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            var address = four.sin_addr
            guard inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil else { continue }
            result.append(.ipv4(host: String(cString: text), port: four.sin_port.bigEndian))
        } else if entry.ai_family == AF_INET6 {
            let six = UnsafeRawPointer(raw).load(as: sockaddr_in6.self)
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            var address = six.sin6_addr
            guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { continue }
            result.append(.ipv6(host: String(cString: text), port: six.sin6_port.bigEndian))
        }
    }
    return result
}

private func setTimeval(_ fd: Int32, _ name: Int32, _ seconds: Double) -> Bool {
    let whole = seconds.rounded(.down)
    var value = timeval(tv_sec: Int(whole), tv_usec: Int(((seconds - whole) * 1_000_000).rounded(.up)))
    if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1 }
    return setsockopt(fd, SOL_SOCKET, name, &value, socklen_t(MemoryLayout<timeval>.size)) == 0
}

public func openConnection(toAnyOf addresses: [SocketAddress], attemptTimeout: Double) throws -> Int32 {
    var last = SocketError(call: "connect", code: EINVAL)
    for address in addresses {
        if address.family == .unix { continue }
        let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
        if fd < 0 {
            last = SocketError(call: "socket")
            continue
        }
        // On Linux a blocking connect gives up when SO_SNDTIMEO runs out, with EINPROGRESS.
        guard setTimeval(fd, SO_SNDTIMEO, attemptTimeout) else {
            last = SocketError(call: "setsockopt")
            _ = close(fd)
            continue
        }
        var result: Int32 = 0
        var code: Int32 = 0
        repeat {
            result = (try? address.withSockAddr { connect(fd, $0, $1) }) ?? -2
            code = result == -1 ? errno : (result == -2 ? EINVAL : 0)
        } while result == -1 && code == EINTR
        if result == 0 {
            var none = timeval()
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, socklen_t(MemoryLayout<timeval>.size))
            return fd
        }
        last = SocketError(call: "connect", code: code == EINPROGRESS || code == EAGAIN ? ETIMEDOUT : code)
        _ = close(fd)
    }
    throw last
}

public func openConnection(host: String, port: UInt16, attemptTimeout: Double) throws -> Int32 {
    let addresses = try resolve(host: host, port: String(port), socketType: SocketType.stream.rawValue, flags: AI_NUMERICSERV)
    return try openConnection(toAnyOf: addresses, attemptTimeout: attemptTimeout)
}

public func makeDualStackListener(port: UInt16, backlog: Int32 = 16) throws -> Int32 {
    guard case .ipv6(let host, let bound)? = try resolve(host: nil, port: String(port), family: AF_INET6, flags: AI_PASSIVE).first else {
        throw SocketError(call: "getaddrinfo", code: EADDRNOTAVAIL)
    }
    let fd = socket(AF_INET6, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    var ok = true
    defer { if !ok { _ = close(fd) } }
    var zero: Int32 = 0
    var one: Int32 = 1
    guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4) == 0 else { ok = false; throw SocketError(call: "setsockopt") }
    guard setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, 4) == 0 else { ok = false; throw SocketError(call: "setsockopt") }
    var six = sockaddr_in6()
    six.sin6_family = sa_family_t(AF_INET6)
    six.sin6_port = bound.bigEndian
    guard inet_pton(AF_INET6, host, &six.sin6_addr) == 1 else { ok = false; throw SocketError(call: "inet_pton", code: EINVAL) }
    let bindResult = withUnsafePointer(to: &six) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
    }
    guard bindResult == 0 else { ok = false; throw SocketError(call: "bind") }
    guard listen(fd, backlog) == 0 else { ok = false; throw SocketError(call: "listen") }
    return fd
}

public func clientAddress(of connection: Int32) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
    guard withUnsafeMutablePointer(to: &storage, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(connection, $0, &size) } }) == 0 else {
        throw SocketError(call: "getpeername")
    }
    var hostBuffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    var serviceBuffer = [CChar](repeating: 0, count: Int(NI_MAXSERV))
    let code = withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            getnameinfo($0, size, &hostBuffer, socklen_t(hostBuffer.count), &serviceBuffer, socklen_t(serviceBuffer.count), NI_NUMERICHOST | NI_NUMERICSERV)
        }
    }
    guard code == 0 else { throw LookupError(code: code, text: String(cString: gai_strerror(code))) }
    let host = String(cString: hostBuffer)
    let port = UInt16(String(cString: serviceBuffer)) ?? 0
    if Int32(storage.ss_family) == AF_INET { return .ipv4(host: host, port: port) }
    // A mapped IPv4 peer: inet_pton of the part after the last colon succeeds as IPv4.
    if host.hasPrefix("::ffff:"), let last = host.split(separator: ":").last {
        var probe = in_addr()
        if inet_pton(AF_INET, String(last), &probe) == 1 { return .ipv4(host: String(last), port: port) }
    }
    return .ipv6(host: host, port: port)
}
