/// The address at one end of a socket: IPv4, IPv6 or a Unix domain path.
///
/// The C calls speak `sockaddr`, a header that says which concrete struct follows
/// (`sockaddr_in`, `sockaddr_in6`, `sockaddr_un`). This type does the two conversions:
///
/// - `SocketAddress(storage:length:)` reads what `accept`, `recvfrom`, `getsockname` or
///   `getpeername` wrote into a `sockaddr_storage`;
/// - `withSockAddr { pointer, length in ... }` lends a `sockaddr` pointer for `bind`,
///   `connect` or `sendto`.
///
/// Ports are always in host byte order here; the conversion to network order happens inside.
public enum SocketAddress: Hashable, Sendable, CustomStringConvertible {
    case ipv4(host: String, port: UInt16)
    case ipv6(host: String, port: UInt16)
    case unix(path: String)

    public var family: AddressFamily {
        switch self {
        case .ipv4: return .inet
        case .ipv6: return .inet6
        case .unix: return .unix
        }
    }

    /// The host part ("127.0.0.1", "::1"), or nil for a Unix path.
    public var host: String? {
        switch self {
        case .ipv4(let host, _), .ipv6(let host, _): return host
        case .unix: return nil
        }
    }

    /// The port in host byte order, or nil for a Unix path.
    public var port: UInt16? {
        switch self {
        case .ipv4(_, let port), .ipv6(_, let port): return port
        case .unix: return nil
        }
    }

    /// "127.0.0.1:8002", "[::1]:8002" or "unix:/tmp/echo.sock".
    public var description: String {
        switch self {
        case .ipv4(let host, let port): return "\(host):\(port)"
        case .ipv6(let host, let port): return "[\(host)]:\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }
}

// MARK: - From C: reading a sockaddr_storage

extension SocketAddress {
    /// Reads an address the kernel wrote into `storage`, `length` bytes of it.
    ///
    /// Looks at `ss_family` first, then loads the matching struct from the storage's bytes.
    public init(storage: sockaddr_storage, length: socklen_t) throws(SocketError) {
        let length = Int(length)
        let family = Int32(storage.ss_family)
        switch family {
        case AF_INET:
            guard length >= MemoryLayout<sockaddr_in>.size else { throw Self.badLength(length, family) }
            let sin = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) }
            let host = try withUnsafeBytes(of: sin.sin_addr) { raw throws(SocketError) in
                try Self.presentation(AF_INET, raw, capacity: Int(INET_ADDRSTRLEN))
            }
            self = .ipv4(host: host, port: UInt16(bigEndian: sin.sin_port))
        case AF_INET6:
            guard length >= MemoryLayout<sockaddr_in6>.size else { throw Self.badLength(length, family) }
            let sin6 = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) }
            let host = try withUnsafeBytes(of: sin6.sin6_addr) { raw throws(SocketError) in
                try Self.presentation(AF_INET6, raw, capacity: Int(INET6_ADDRSTRLEN))
            }
            self = .ipv6(host: host, port: UInt16(bigEndian: sin6.sin6_port))
        case AF_UNIX:
            // The path runs from sun_path to `length`, and may or may not end in a NUL.
            // An unnamed socket (a client that never bound) has no path bytes at all.
            let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
            let pathBytes = withUnsafeBytes(of: storage) { raw in
                Array(raw[pathOffset..<max(pathOffset, min(length, raw.count))])
            }
            let path = pathBytes.first == 0 && pathBytes.count > 1
                ? "@" + String(decoding: pathBytes.dropFirst().prefix { $0 != 0 }, as: UTF8.self)  // Linux abstract name
                : String(decoding: pathBytes.prefix { $0 != 0 }, as: UTF8.self)
            self = .unix(path: path)
        default:
            throw SocketError(call: "SocketAddress(storage:length:)", code: EAFNOSUPPORT)
        }
    }

    private static func badLength(_ length: Int, _ family: Int32) -> SocketError {
        SocketError(call: "SocketAddress(storage:length:) (\(AddressFamily(rawValue: family)) with \(length) bytes)", code: EINVAL)
    }

    /// inet_ntop: binary address to text.
    /// `address` is the raw in_addr / in6_addr bytes.
    private static func presentation(
        _ family: Int32, _ address: UnsafeRawBufferPointer, capacity: Int
    ) throws(SocketError) -> String {
        var text = [CChar](repeating: 0, count: capacity)
        guard inet_ntop(family, address.baseAddress, &text, socklen_t(capacity)) != nil else {
            throw SocketError(call: "inet_ntop")
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

// MARK: - To C: lending a sockaddr pointer

extension SocketAddress {
    /// Calls `body` with this address as a `sockaddr` pointer and its length, for the
    /// duration of the call: `bind`, `connect` and `sendto` take exactly that pair.
    ///
    /// Throws `SocketError` with call "inet_pton" and EINVAL when the host is not a
    /// numeric address of the right family, and ENAMETOOLONG for a Unix path too long to fit.
    public func withSockAddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Result) throws -> Result {
        switch self {
        case .ipv4(let host, let port):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian  // network byte order: most significant byte first
            guard inet_pton(AF_INET, host, &sin.sin_addr) == 1 else {
                throw SocketError(call: "inet_pton(\"\(host)\")", code: EINVAL)
            }
            return try Self.lend(&sin, body)
        case .ipv6(let host, let port):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1 else {
                throw SocketError(call: "inet_pton(\"\(host)\")", code: EINVAL)
            }
            return try Self.lend(&sin6, body)
        case .unix(let path):
            var sun = sockaddr_un()
            sun.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            let capacity = MemoryLayout.size(ofValue: sun.sun_path)
            guard bytes.count < capacity else {  // room for the terminating NUL
                throw SocketError(call: "sockaddr_un(\"\(path)\")", code: ENAMETOOLONG)
            }
            withUnsafeMutableBytes(of: &sun.sun_path) { raw in
                raw.copyBytes(from: bytes)
            }
            return try Self.lend(&sun, body)
        }
    }

    /// Lends `address` as a `sockaddr` pointer. The length is the concrete struct's size.
    /// (On macOS the kernel fills in `sin_len` from this length, so it is not set by hand.)
    private static func lend<Concrete, Result>(
        _ address: inout Concrete, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Result
    ) throws -> Result {
        try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                try body(sockaddrPointer, socklen_t(MemoryLayout<Concrete>.size))
            }
        }
    }
}
