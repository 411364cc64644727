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
///     Any address of this machine will do: all of 127.0.0.0/8 is loopback (127.0.0.2...).
///     A name ("localhost"), "" or an IPv6 address is not an IPv4 address: it throws.
///   - port: in host byte order; 0 asks the kernel to pick a free port.
///   - backlog: how many finished handshakes may wait for `accept`: given to `listen` as it is.
/// - Returns: the listening socket's descriptor.
/// - Throws: `SocketError` naming the call that failed ("inet_pton" with EINVAL for a
///   host that is not an IPv4 address). Nothing is left open when it throws.
public func makeListener(host: String, port: UInt16, backlog: Int32 = 16) throws -> Int32 {
    let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    do {
        // Before bind: lets a restarted server take its port back while connections of
        // the previous run are still in TIME_WAIT.
        var on: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw SocketError(call: "setsockopt")
        }

        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian  // the wire wants the most significant byte first
        // inet_pton returns 1 on success and 0 for text that is not an address. Ignoring
        // that 0 would leave sin_addr as 0.0.0.0: listening on every interface.
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw SocketError(call: "inet_pton", code: EINVAL)
        }

        // bind wants a generic sockaddr pointer and the size of the concrete struct.
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw SocketError(call: "bind") }
        guard listen(fd, backlog) == 0 else { throw SocketError(call: "listen") }
        return fd
    } catch {
        // The error path must close what it opened, or every failed attempt leaks a descriptor.
        _ = close(fd)
        throw error
    }
}

/// Waits for the next client and returns its connection and address, like Python's
/// `conn, addr = s.accept()`.
///
/// - Returns: a new descriptor for talking to this one client (the listener keeps
///   listening), and the client's address (IPv4 or IPv6: whichever the listener is).
/// - Throws: `SocketError` naming "accept" when the call fails (for example EINVAL when
///   `listener` is not listening, EMFILE when no descriptor is free). Nothing is left open.
public func acceptConnection(on listener: Int32) throws -> (connection: Int32, peer: SocketAddress) {
    // accept writes the client's address into a buffer we provide. sockaddr_storage is
    // big enough for any family; `length` goes in as its size and comes back as the
    // size actually written.
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let connection = withUnsafeMutablePointer(to: &storage) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener, $0, &length) }
    }
    guard connection >= 0 else { throw SocketError(call: "accept") }
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
/// - Throws: `SocketError` naming "getsockname" when the call fails. `fd` stays open.
public func boundAddress(of fd: Int32) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let result = withUnsafeMutablePointer(to: &storage) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard result == 0 else { throw SocketError(call: "getsockname") }
    return try SocketAddress(storage: storage, length: length)
}
