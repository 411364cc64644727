// Lesson 9: names and addresses. getaddrinfo, trying each address in turn, a dual-stack
// listener, getnameinfo.
// Read Lessons/09-names.md first. Grade with: swift run workbook check 9
//
// The reference answers.
// `import SocketKit` brings in getaddrinfo, freeaddrinfo, gai_strerror, getnameinfo, the
// AI_* / NI_* / EAI_* constants, the socket calls of lessons 1-6, SocketError and
// SocketAddress.
//
// getaddrinfo and getnameinfo do not use errno. They return 0 or an EAI_* code of their
// own (EAI_NONAME is -2 on Linux), and gai_strerror(code) is that code's text. Throw a
// LookupError for those; throw SocketError (which reads errno) only for the socket calls.
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

/// Looks `host` and `port` up with getaddrinfo and returns every address of its list, in
/// the list's order: one `SocketAddress` for each entry (`.ipv4` or `.ipv6`, port in host
/// byte order).
///
/// - `host`: a name ("localhost") or a numeric address ("127.0.0.1", "::1"); nil means
///   "no host": with AI_PASSIVE the wildcard addresses (0.0.0.0, ::) a server binds,
///   without it the loopback addresses.
/// - `port`: a number as text ("8080") or a service name ("http", looked up in /etc/services).
/// - `family`: AF_UNSPEC (any), AF_INET or AF_INET6. `socketType`: SOCK_STREAM, SOCK_DGRAM,
///   or 0 for any (then the same address comes once for each type). `flags`: AI_PASSIVE,
///   AI_NUMERICHOST (never ask a name server: a name fails at once with EAI_NONAME),
///   AI_NUMERICSERV, or'ed together. They all go into the hints, with protocol 0.
///
/// - Throws: `LookupError` with getaddrinfo's code and `gai_strerror`'s text when it fails
///   (never a SocketError: errno means nothing after getaddrinfo). The list getaddrinfo
///   made is freed with freeaddrinfo on every path, once: after a success, after an entry
///   this function cannot read, and never after a failure (there is no list then).
/// - Left open: an entry of another family than AF_INET or AF_INET6 may be skipped.
///
/// Steps: `var hints = addrinfo()`, set ai_family, ai_socktype, ai_flags;
/// `var list: UnsafeMutablePointer<addrinfo>?`; `getaddrinfo(host, port, &hints, &list)`;
/// walk `ai_next`; each entry's `ai_addr` and `ai_addrlen` are a sockaddr: copy its bytes into
/// a `sockaddr_storage` and use `SocketAddress(storage:length:)`.
public func resolve(host: String?, port: String, family: Int32 = AF_UNSPEC, socketType: Int32 = SocketType.stream.rawValue, flags: Int32 = 0) throws -> [SocketAddress] {
    var hints = addrinfo()
    hints.ai_family = family
    hints.ai_socktype = socketType
    hints.ai_flags = flags
    var list: UnsafeMutablePointer<addrinfo>?
    let code = getaddrinfo(host, port, &hints, &list)
    // getaddrinfo's failures are its own codes: errno is not set and means nothing here.
    guard code == 0 else { throw LookupError(code: code, text: String(cString: gai_strerror(code))) }
    defer { freeaddrinfo(list) }  // the list is ours to free, whatever happens below
    var addresses: [SocketAddress] = []
    var entry = list
    while let current = entry?.pointee {
        entry = current.ai_next
        guard let sockaddrPointer = current.ai_addr,
              current.ai_family == AF_INET || current.ai_family == AF_INET6 else { continue }
        var storage = sockaddr_storage()
        let length = min(Int(current.ai_addrlen), MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: sockaddrPointer, count: length))
        }
        addresses.append(try SocketAddress(storage: storage, length: socklen_t(length)))
    }
    return addresses
}

/// Connects a TCP socket to the first of `addresses` that answers, trying them in order.
///
/// - Each attempt is bounded by `attemptTimeout` seconds (more than 0; fractions allowed):
///   a non-blocking connect, poll for POLLOUT, then SO_ERROR, as lesson 6's
///   openConnection(to:timeout:) did. An attempt that is refused, times out or fails in any
///   other way is closed, and the next address is tried at once.
/// - So the whole call takes at most about `attemptTimeout` times the number of addresses.
///
/// - Returns: the connected socket, in blocking mode again. It is the caller's to close.
/// - Throws: `SocketError` naming "connect" with the last attempt's error (ECONNREFUSED,
///   ETIMEDOUT when its time ran out...) when none connects, or with EINVAL for an empty
///   list or a `.unix` address. Nothing is left open when it throws: every failed
///   attempt's socket is closed before the next one starts.
/// - Left open: Happy Eyeballs (racing IPv6 and IPv4 attempts, as browsers do) is not asked for.
public func openConnection(toAnyOf addresses: [SocketAddress], attemptTimeout: Double) throws -> Int32 {
    var lastError = SocketError(call: "connect", code: EINVAL)  // what an empty list gives
    for address in addresses {
        guard address.family != .unix else { continue }
        do {
            return try connectOnce(to: address, timeout: attemptTimeout)
        } catch {
            lastError = error  // that attempt closed its socket: try the next address
        }
    }
    throw lastError
}

/// Connects to `host` (a name or a numeric address) on `port`: resolve it (any family,
/// SOCK_STREAM, AI_NUMERICSERV), then `openConnection(toAnyOf:attemptTimeout:)` on what it gave.
///
/// - Throws: `LookupError` when the name does not resolve; otherwise what
///   `openConnection(toAnyOf:attemptTimeout:)` throws. Nothing is left open when it throws.
public func openConnection(host: String, port: UInt16, attemptTimeout: Double) throws -> Int32 {
    let addresses = try resolve(host: host, port: String(port), flags: AI_NUMERICSERV)
    return try openConnection(toAnyOf: addresses, attemptTimeout: attemptTimeout)
}

/// A TCP listener on every address, IPv6 and IPv4 alike, with one socket: `[::]:port`
/// with IPV6_V6ONLY off, so IPv4 clients arrive too (they show as ::ffff:a.b.c.d).
///
/// - Find the address with your `resolve(host: nil, ...)`, family AF_INET6 and AI_PASSIVE
///   (without AI_PASSIVE it would be ::1, loopback only). Port 0 means "any free port":
///   read it back with getsockname.
/// - setsockopt IPV6_V6ONLY (level IPPROTO_IPV6) to 0 before bind: the default differs
///   between systems (and /proc/sys/net/ipv6/bindv6only). SO_REUSEADDR on, before bind.
/// - `listen(fd, backlog)` with the backlog given.
///
/// - Returns: the listening socket. It is the caller's to close.
/// - Throws: `LookupError` if the lookup fails, `SocketError` naming the call that failed
///   (EADDRINUSE for a port in use...). Nothing is left open when it throws.
public func makeDualStackListener(port: UInt16, backlog: Int32 = 16) throws -> Int32 {
    // AI_PASSIVE with no host: the wildcard address, [::]:port.
    guard let address = try resolve(host: nil, port: String(port), family: AF_INET6, flags: AI_PASSIVE).first else {
        throw SocketError(call: "getaddrinfo", code: EADDRNOTAVAIL)
    }
    let fd = socket(AF_INET6, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    do {
        try setIntOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0, "setsockopt(IPV6_V6ONLY)")
        try setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)")
        try address.withSockAddr { pointer, length in
            guard bind(fd, pointer, length) == 0 else { throw SocketError(call: "bind") }
        }
        guard listen(fd, backlog) == 0 else { throw SocketError(call: "listen") }
        return fd
    } catch {
        _ = close(fd)
        throw error
    }
}

/// The address of the other end of a connected socket, as a person should read it: the
/// host numeric (getnameinfo with NI_NUMERICHOST | NI_NUMERICSERV, never a name lookup)
/// and the port as a number.
///
/// - An IPv4 client of a dual-stack listener shows as ::ffff:127.0.0.1 (an IPv4-mapped
///   IPv6 address). Return it as the IPv4 address it is: `.ipv4(host: "127.0.0.1", port: ...)`.
///   Every other IPv6 peer is `.ipv6`.
///
/// - Throws: `SocketError` naming "getpeername" when that fails (EBADF, ENOTSOCK, ENOTCONN
///   for a socket with no peer); `LookupError` when getnameinfo fails.
public func clientAddress(of connection: Int32) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let got = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(connection, $0, &length) }
    }
    guard got == 0 else { throw SocketError(call: "getpeername") }
    var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
    let code = withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
        }
    }
    guard code == 0 else { throw LookupError(code: code, text: String(cString: gai_strerror(code))) }
    let text = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let port = UInt16(String(decoding: service.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) ?? 0
    guard Int32(storage.ss_family) == AF_INET6 else { return .ipv4(host: text, port: port) }
    // An IPv4 client of a dual-stack listener: "::ffff:127.0.0.1" is 127.0.0.1.
    let mapped = "::ffff:"
    if text.lowercased().hasPrefix(mapped), text.contains(".") {
        return .ipv4(host: String(text.dropFirst(mapped.count)), port: port)
    }
    return .ipv6(host: text, port: port)
}

// MARK: - Helpers

/// One attempt, bounded by `timeout`: a non-blocking connect, poll for POLLOUT, then
/// SO_ERROR. Closes its socket when it throws.
private func connectOnce(to address: SocketAddress, timeout: Double) throws(SocketError) -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    do throws(SocketError) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { throw SocketError(call: "fcntl") }
        let started: Int32
        do {
            started = try address.withSockAddr { pointer, length in connect(fd, pointer, length) }
        } catch {
            throw SocketError(call: "connect", code: EINVAL)  // a host that does not parse
        }
        if started != 0 {
            guard errno == EINPROGRESS else { throw SocketError(call: "connect") }
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            // Whole milliseconds, rounded up, clamped: Int32(x) traps past 2^31 - 1 or on NaN.
            let milliseconds = timeout.isNaN ? 0 : Int32(min(max((timeout * 1000).rounded(.up), 0), Double(Int32.max)))
            let ready = poll(&entry, 1, milliseconds)
            guard ready >= 0 else { throw SocketError(call: "poll") }
            guard ready > 0 else { throw SocketError(call: "connect", code: ETIMEDOUT) }
            var error: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 else { throw SocketError(call: "getsockopt(SO_ERROR)") }
            guard error == 0 else { throw SocketError(call: "connect", code: error) }
        }
        guard fcntl(fd, F_SETFL, flags) == 0 else { throw SocketError(call: "fcntl") }  // blocking again
        return fd
    } catch {
        _ = close(fd)
        throw error
    }
}

private func setIntOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ call: String) throws(SocketError) {
    var value = value
    guard setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
        throw SocketError(call: call)
    }
}
