import SocketKit

// Host names for the demos of lessons 2 to 8, which were written for numeric addresses.
//
// This is the demos' own getaddrinfo. It lives here, not in SocketKit (which the exercises
// import), so that a learner of lessons 2 to 8 is never handed the answer to lesson 9
// (Exercises/Lesson09/Names.swift). The lesson 9 demo uses the learner's own resolver.

extension DemoCommand {
    /// Every address of `host` for a TCP (or UDP) socket on `port`, in the resolver's order,
    /// or exit 2 with one line.
    ///
    /// A numeric host is taken as it is, with no lookup. A name is looked up with
    /// getaddrinfo: with `passive` (a server) AI_PASSIVE, with `ipv4Only` (the TCP servers,
    /// built on lesson 2's IPv4 `makeListener`) IPv4 addresses only. A name that does not
    /// resolve ends the demo with the resolver's own text (gai_strerror), not an errno.
    public func addresses(
        host: String, port: UInt16, socketType: SocketType = .stream, ipv4Only: Bool = false, passive: Bool = false, flag: String = "host"
    ) -> [SocketAddress] {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return [.ipv4(host: host, port: port)] }
        if inet_pton(AF_INET6, host, &v6) == 1 {
            if ipv4Only {
                fail("--\(flag) \(host) is an IPv6 address, and this server is IPv4 only in this lesson: use an IPv4 address such as 127.0.0.1 or a name such as localhost")
            }
            return [.ipv6(host: host, port: port)]
        }
        if host.isEmpty { fail("--\(flag) is empty: give a name such as localhost, or a numeric address such as 127.0.0.1") }
        switch lookUp(host, port: port, family: ipv4Only ? AF_INET : AF_UNSPEC, socketType: socketType, passive: passive) {
        case .success(let found) where !found.isEmpty:
            return found
        case .success:
            fail("--\(flag) \(shown(host)) has no IPv4 or IPv6 address")
        case .failure(let failure):
            let text = String(cString: gai_strerror(failure.code))
            if ipv4Only, case .success(let any) = lookUp(host, port: port, family: AF_UNSPEC, socketType: socketType, passive: passive), !any.isEmpty {
                fail("--\(flag) \(shown(host)) has no IPv4 address (\(text)), and this server is IPv4 only in this lesson")
            }
            fail("--\(flag) \(shown(host)) does not resolve: \(text)")
        }
    }

    /// The first of `addresses(host:...)`: what a server binds (with `passive`), or where a
    /// UDP client sends.
    public func address(host: String, port: UInt16, socketType: SocketType = .stream, ipv4Only: Bool = false, passive: Bool = false, flag: String = "host") -> SocketAddress {
        addresses(host: host, port: port, socketType: socketType, ipv4Only: ipv4Only, passive: passive, flag: flag)[0]
    }
}

/// getaddrinfo's own failure: an EAI_* code, not an errno.
private struct LookupCode: Error {
    let code: Int32
}

/// getaddrinfo for one host and port: the IPv4 and IPv6 addresses of its list, in order, or
/// its EAI_* code. The list is freed on every path.
private func lookUp(_ host: String, port: UInt16, family: Int32, socketType: SocketType, passive: Bool) -> Result<[SocketAddress], LookupCode> {
    var hints = addrinfo()
    hints.ai_family = family
    hints.ai_socktype = socketType.rawValue
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)
    var list: UnsafeMutablePointer<addrinfo>?
    let code = getaddrinfo(host, String(port), &hints, &list)
    guard code == 0 else { return .failure(LookupCode(code: code)) }
    defer { freeaddrinfo(list) }
    var found: [SocketAddress] = []
    var next = list
    while let entry = next?.pointee {
        next = entry.ai_next
        guard let pointer = entry.ai_addr, entry.ai_family == AF_INET || entry.ai_family == AF_INET6 else { continue }
        var storage = sockaddr_storage()
        let length = min(Int(entry.ai_addrlen), MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: length)) }
        if let address = try? SocketAddress(storage: storage, length: socklen_t(length)), !found.contains(address) {
            found.append(address)
        }
    }
    return .success(found)
}
