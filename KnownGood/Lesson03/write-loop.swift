// Known-good: write() instead of send(), SIGPIPE ignored for the process, sockaddr_in / sockaddr_in6 built by hand, a defer that closes unless connected
// Lesson 3: connect to a server and send it bytes: all of them.
import SocketKit

/// Opens a TCP connection to `address` (IPv4 or IPv6).
public func openConnection(to address: SocketAddress) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    if fd == -1 { throw SocketError(call: "socket") }
    var connected = false
    defer { if !connected { _ = close(fd) } }
    let result: Int32
    switch address {
    case .ipv4(let host, let port):
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(port).bigEndian
        guard inet_pton(AF_INET, host, &sin.sin_addr) == 1 else { throw SocketError(call: "inet_pton", code: EINVAL) }
        result = withUnsafePointer(to: &sin) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    case .ipv6(let host, let port):
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = in_port_t(port).bigEndian
        guard inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1 else { throw SocketError(call: "inet_pton", code: EINVAL) }
        result = withUnsafePointer(to: &sin6) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
    case .unix:
        result = try address.withSockAddr { connect(fd, $0, $1) }
    }
    if result == -1 { throw SocketError(call: "connect") }
    connected = true
    return fd
}

/// connect_ex: 0, or errno as a value.
public func connectEx(_ fd: Int32, to address: SocketAddress) throws -> Int32 {
    let code = try address.withSockAddr { pointer, length -> Int32 in
        if connect(fd, pointer, length) == -1 { return errno }
        return 0
    }
    return code
}

/// Every byte, with write(2).
public func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    // write() has no MSG_NOSIGNAL: ignore SIGPIPE, so that a reset peer gives EPIPE.
    signal(SIGPIPE, SIG_IGN)
    var offset = 0
    while offset < bytes.count {
        let count = bytes.withUnsafeBufferPointer { buffer in
            write(fd, buffer.baseAddress! + offset, buffer.count - offset)
        }
        if count != -1 {
            offset += count
            continue
        }
        let error = SocketError(call: "write")
        switch error.code {
        case EINTR:
            break
        case EAGAIN, EWOULDBLOCK:
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            if poll(&entry, 1, 10_000) == 0 { throw error }
        default:
            throw error
        }
    }
}

/// The text's UTF-8 bytes, all of them.
public func sendText(_ fd: Int32, _ text: String) throws {
    try sendAll(fd, [UInt8](text.utf8))
}
