// Known-good: SOCK_CLOEXEC socket and fcntl FD_CLOEXEC on accepted connections, port bytes written by hand (endian-independent), cleanup by a defer flag
// Lesson 2: bind a TCP socket to an address, listen, and accept clients.
// Read Lessons/02-bind-listen.md first. Grade with: swift test --filter Lesson02
import SocketKit

/// Makes a TCP socket that listens on `host`:`port` (IPv4), like Python's
///
///     s = socket.socket(AF_INET, SOCK_STREAM)
///     s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
///     s.bind((host, port))
///     s.listen(backlog)
///
/// - Parameters:
///   - host: a numeric IPv4 address: "127.0.0.1" (this machine only) or "0.0.0.0" (every interface).
///   - port: in host byte order; 0 asks the kernel to pick a free port.
///   - backlog: how many finished handshakes may wait for `accept`.
/// - Returns: the listening socket's descriptor.
/// - Throws: `SocketError` naming the call that failed ("inet_pton" with EINVAL for a
///   host that is not an IPv4 address). Nothing is left open when it throws.
public func makeListener(host: String, port: UInt16, backlog: Int32 = 16) throws -> Int32 {
    // SOCK_CLOEXEC: a program this process runs later does not inherit the listener.
    let fd = socket(AF_INET, SocketType.stream.rawValue | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    var finished = false
    defer { if !finished { _ = close(fd) } }

    var one: Int32 = 1
    guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout.size(ofValue: one))) == 0 else {
        throw SocketError(call: "setsockopt")
    }

    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    // Network byte order by hand: most significant byte first in memory.
    withUnsafeMutableBytes(of: &address.sin_port) { bytes in
        bytes[0] = UInt8(truncatingIfNeeded: port >> 8)
        bytes[1] = UInt8(truncatingIfNeeded: port)
    }
    let parsed = withUnsafeMutableBytes(of: &address.sin_addr) { inet_pton(AF_INET, host, $0.baseAddress) }
    guard parsed == 1 else { throw SocketError(call: "inet_pton", code: EINVAL) }

    let status = withUnsafeBytes(of: &address) { raw in
        bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
    }
    guard status == 0 else { throw SocketError(call: "bind") }
    guard listen(fd, backlog) == 0 else { throw SocketError(call: "listen") }
    finished = true
    return fd
}

/// Waits for the next client and returns its connection and address, like Python's
/// `conn, addr = s.accept()`.
///
/// - Returns: a new descriptor for talking to this one client (the listener keeps
///   listening), and the client's address.
/// - Throws: `SocketError` naming "accept" when the call fails.
public func acceptConnection(on listener: Int32) throws -> (connection: Int32, peer: SocketAddress) {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let connection = withUnsafeMutableBytes(of: &storage) { raw in
        accept(listener, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
    }
    guard connection >= 0 else { throw SocketError(call: "accept") }
    var finished = false
    defer { if !finished { _ = close(connection) } }
    // Close-on-exec for the connection too, keeping any other descriptor flag it has.
    let flags = fcntl(connection, F_GETFD)
    guard flags >= 0 else { throw SocketError(call: "fcntl") }
    guard fcntl(connection, F_SETFD, flags | FD_CLOEXEC) == 0 else { throw SocketError(call: "fcntl") }
    let peer = try SocketAddress(storage: storage, length: length)
    finished = true
    return (connection, peer)
}

/// The address a socket is bound to, like Python's `s.getsockname()`. After binding to
/// port 0 this is how you learn which port the kernel picked.
///
/// - Throws: `SocketError` naming "getsockname" when the call fails.
public func boundAddress(of fd: Int32) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let status = withUnsafeMutableBytes(of: &storage) { raw in
        getsockname(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
    }
    guard status == 0 else { throw SocketError(call: "getsockname") }
    return try SocketAddress(storage: storage, length: length)
}
