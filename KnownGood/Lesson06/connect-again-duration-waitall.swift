// Known-good: a second connect() to learn how the first ended (0 / EISCONN or the error) instead of SO_ERROR, Duration for the timeval, MSG_WAITALL | MSG_DONTWAIT, getpeername into a sockaddr_in6-sized buffer
import SocketKit

// MARK: - Setting options

private enum Level {
    static let socket = SOL_SOCKET
    static let tcp = Int32(IPPROTO_TCP)
}

private func set(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws {
    var copy = value
    let status = withUnsafeMutableBytes(of: &copy) { raw in
        setsockopt(fd, level, name, raw.baseAddress, socklen_t(raw.count))
    }
    guard status == 0 else { throw SocketError(call: "setsockopt") }
}

private func get(_ fd: Int32, _ level: Int32, _ name: Int32) throws -> Int32 {
    var value: Int32 = -1
    var size = socklen_t(4)
    let status = withUnsafeMutableBytes(of: &value) { raw in getsockopt(fd, level, name, raw.baseAddress, &size) }
    guard status == 0 else { throw SocketError(call: "getsockopt") }
    return value
}

public func setReuseAddress(_ fd: Int32, _ enabled: Bool) throws {
    try set(fd, Level.socket, SO_REUSEADDR, enabled ? 1 : 0)
}

public func setKeepAlive(_ fd: Int32, _ enabled: Bool) throws {
    try set(fd, Level.socket, SO_KEEPALIVE, enabled ? 1 : 0)
}

public func setNoDelay(_ fd: Int32, _ enabled: Bool) throws {
    try set(fd, Level.tcp, TCP_NODELAY, enabled ? 1 : 0)
}

public func setBufferSizes(_ fd: Int32, receive: Int32, send: Int32) throws -> (receive: Int32, send: Int32) {
    try set(fd, Level.socket, SO_RCVBUF, receive)
    try set(fd, Level.socket, SO_SNDBUF, send)
    let receiveNow = try get(fd, Level.socket, SO_RCVBUF)
    let sendNow = try get(fd, Level.socket, SO_SNDBUF)
    return (receive: receiveNow, send: sendNow)
}

// MARK: - Timeouts and blocking

private func timevalFor(_ seconds: Double?) -> timeval {
    guard let seconds, seconds > 0 else { return timeval(tv_sec: 0, tv_usec: 0) }
    let parts = Duration.seconds(seconds).components
    let microseconds = parts.attoseconds / 1_000_000_000_000
    return timeval(tv_sec: .init(parts.seconds), tv_usec: .init(parts.seconds == 0 && microseconds == 0 ? 1 : microseconds))
}

public func setTimeout(_ fd: Int32, _ seconds: Double?) throws {
    var time = timevalFor(seconds)
    for name in [SO_RCVTIMEO, SO_SNDTIMEO] {
        guard setsockopt(fd, Level.socket, name, &time, socklen_t(MemoryLayout.size(ofValue: time))) == 0 else {
            throw SocketError(call: "setsockopt")
        }
    }
}

public func timeout(of fd: Int32) throws -> Double? {
    var time = timeval(tv_sec: 0, tv_usec: 0)
    var size = socklen_t(MemoryLayout.size(ofValue: time))
    guard getsockopt(fd, Level.socket, SO_RCVTIMEO, &time, &size) == 0 else { throw SocketError(call: "getsockopt") }
    let duration = Duration.seconds(Int64(time.tv_sec)) + Duration.microseconds(Int64(time.tv_usec))
    guard duration > .zero else { return nil }
    let (whole, atto) = duration.components
    return Double(whole) + Double(atto / 1_000_000_000_000) / 1_000_000
}

public func setBlocking(_ fd: Int32, _ blocking: Bool) throws {
    let old = fcntl(fd, F_GETFL)
    guard old != -1 else { throw SocketError(call: "fcntl") }
    let new = blocking ? (old & ~O_NONBLOCK) : (old | O_NONBLOCK)
    guard new == old || fcntl(fd, F_SETFL, new) != -1 else { throw SocketError(call: "fcntl") }
}

public func receiveIfReady(_ fd: Int32, maxSize: Int) throws -> [UInt8]? {
    var bytes = [UInt8](repeating: 0, count: maxSize)
    let flags = Int32(MSG_WAITALL) | Int32(MSG_DONTWAIT)  // as much as has arrived, never waiting
    let got = bytes.withUnsafeMutableBufferPointer { recv(fd, $0.baseAddress, $0.count, flags) }
    if got == -1 {
        let code = errno
        if code == EINTR { return try receiveIfReady(fd, maxSize: maxSize) }
        if code == EAGAIN || code == EWOULDBLOCK { return nil }
        throw SocketError(call: "recv", code: code)
    }
    bytes.removeLast(maxSize - got)
    return bytes
}

// MARK: - Asking about a socket

public func pendingError(_ fd: Int32) throws -> Int32 {
    try get(fd, Level.socket, SO_ERROR)
}

public func isListening(_ fd: Int32) throws -> Bool {
    try get(fd, Level.socket, SO_ACCEPTCONN) != 0
}

public func peerAddress(of fd: Int32) throws -> SocketAddress {
    // sockaddr_in6 is the largest address a TCP socket here can have.
    var address = sockaddr_in6()
    var size = socklen_t(MemoryLayout<sockaddr_in6>.size)
    let status = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &size) }
    }
    guard status == 0 else { throw SocketError(call: "getpeername") }
    var storage = sockaddr_storage()
    withUnsafeMutableBytes(of: &storage) { target in
        withUnsafeBytes(of: address) { source in target.copyMemory(from: source) }
    }
    return try SocketAddress(storage: storage, length: size)
}

// MARK: - Putting options to work

/// Runs `body` with a new TCP socket of `family`; closes it if `body` throws.
private func withNewSocket(_ family: AddressFamily, extraType: Int32 = 0, _ body: (Int32) throws -> Void) throws -> Int32 {
    let fd = socket(family.rawValue, SocketType.stream.rawValue | extraType, 0)
    guard fd != -1 else { throw SocketError(call: "socket") }
    do {
        try body(fd)
        return fd
    } catch {
        _ = close(fd)
        throw error
    }
}

public func makeReusableListener(on address: SocketAddress, backlog: Int32 = 16) throws -> Int32 {
    try withNewSocket(address.family) { fd in
        try setReuseAddress(fd, true)
        try address.withSockAddr { pointer, length in
            guard bind(fd, pointer, length) == 0 else { throw SocketError(call: "bind") }
        }
        guard listen(fd, backlog) == 0 else { throw SocketError(call: "listen") }
    }
}

/// After poll says the connect has finished, a second connect() reports how: 0 or EISCONN
/// when it worked, the reason (ECONNREFUSED...) when it did not.
public func openConnection(to address: SocketAddress, timeout: Double) throws -> Int32 {
    try withNewSocket(address.family) { fd in
        try setBlocking(fd, false)
        let first = try address.withSockAddr { connect(fd, $0, $1) }
        if first == -1 {
            guard errno == EINPROGRESS else { throw SocketError(call: "connect") }
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var ready: Int32
            repeat {
                ready = poll(&entry, 1, Int32(timeout * 1000))
            } while ready == -1 && errno == EINTR
            guard ready != -1 else { throw SocketError(call: "poll") }
            guard ready == 1 else { throw SocketError(call: "connect", code: ETIMEDOUT) }
            let second = try address.withSockAddr { connect(fd, $0, $1) }
            if second == -1 && errno != EISCONN { throw SocketError(call: "connect") }
        }
        try setBlocking(fd, true)
    }
}
