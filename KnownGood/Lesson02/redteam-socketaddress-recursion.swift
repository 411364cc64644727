// Known-good: bind through SocketAddress.withSockAddr, accept retried on EINTR by recursion, one shared address reader
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
    // Check the host before anything is opened: then a bad host has nothing to clean up.
    var probe = in_addr()
    guard inet_pton(AF_INET, host, &probe) == 1 else { throw SocketError(call: "inet_pton", code: EINVAL) }

    let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    do {
        var on: Int32 = 1
        if setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            throw SocketError(call: "setsockopt")
        }
        // SocketAddress does the sockaddr_in, the byte order and the rebinding.
        try SocketAddress.ipv4(host: host, port: port).withSockAddr { pointer, length in
            if bind(fd, pointer, length) != 0 { throw SocketError(call: "bind") }
        }
        if listen(fd, backlog) != 0 { throw SocketError(call: "listen") }
        return fd
    } catch {
        _ = close(fd)
        throw error
    }
}

/// Calls `fill` with a sockaddr buffer and its length, then reads the address it wrote.
/// Returns what `fill` returned and the address (nil when `fill` returned -1).
private func withAddressBuffer(
    _ fill: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
) -> (result: Int32, storage: sockaddr_storage, length: socklen_t) {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let result = withUnsafeMutablePointer(to: &storage) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { fill($0, &length) }
    }
    return (result, storage, length)
}

/// Waits for the next client and returns its connection and address, like Python's
/// `conn, addr = s.accept()`.
///
/// - Returns: a new descriptor for talking to this one client (the listener keeps
///   listening), and the client's address.
/// - Throws: `SocketError` naming "accept" when the call fails.
public func acceptConnection(on listener: Int32) throws -> (connection: Int32, peer: SocketAddress) {
    let (connection, storage, length) = withAddressBuffer { accept(listener, $0, $1) }
    if connection < 0 {
        let failure = SocketError(call: "accept")
        // A signal interrupted the wait: nobody was accepted, so wait again.
        if failure.code == EINTR { return try acceptConnection(on: listener) }
        throw failure
    }
    do {
        return (connection, try SocketAddress(storage: storage, length: length))
    } catch {
        _ = close(connection)
        throw error
    }
}

/// The address a socket is bound to, like Python's `s.getsockname()`. After binding to
/// port 0 this is how you learn which port the kernel picked.
///
/// - Throws: `SocketError` naming "getsockname" when the call fails.
public func boundAddress(of fd: Int32) throws -> SocketAddress {
    let (result, storage, length) = withAddressBuffer { getsockname(fd, $0, $1) }
    if result != 0 { throw SocketError(call: "getsockname") }
    return try SocketAddress(storage: storage, length: length)
}
