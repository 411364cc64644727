// Lesson 6: socket options. setsockopt / getsockopt, blocking or not, timeouts, and a
// connect that gives up in time.
// Read Lessons/06-options.md first. Grade with: swift test --filter Lesson06
import SocketKit

// MARK: - Setting options

/// Sets an Int32 option, the common case: a flag (0 or 1) or a size.
private func setIntOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws {
    var value = value
    guard setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
        throw SocketError(call: "setsockopt")
    }
}

/// Reads an Int32 option back from the kernel.
private func intOption(_ fd: Int32, _ level: Int32, _ name: Int32) throws -> Int32 {
    var value: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, level, name, &value, &length) == 0 else { throw SocketError(call: "getsockopt") }
    return value
}

/// SO_REUSEADDR (level SOL_SOCKET): lets a new listener bind a port whose old connections
/// are still in TIME_WAIT. Only counts when set before bind.
public func setReuseAddress(_ fd: Int32, _ enabled: Bool) throws {
    try setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, enabled ? 1 : 0)
}

/// SO_KEEPALIVE (level SOL_SOCKET): the kernel probes a connection that has been idle for a
/// long time (hours, by default) and reports it broken if the peer has vanished.
public func setKeepAlive(_ fd: Int32, _ enabled: Bool) throws {
    try setIntOption(fd, SOL_SOCKET, SO_KEEPALIVE, enabled ? 1 : 0)
}

/// TCP_NODELAY (level IPPROTO_TCP, not SOL_SOCKET: it is a TCP option): turns off Nagle's
/// algorithm, so small writes go out at once instead of waiting for the previous one's ACK.
public func setNoDelay(_ fd: Int32, _ enabled: Bool) throws {
    try setIntOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, enabled ? 1 : 0)
}

/// Asks for receive and send buffers of these sizes (SO_RCVBUF, SO_SNDBUF) and returns the
/// sizes the kernel actually chose, read back: Linux doubles what you ask (the extra is for
/// its bookkeeping) and clamps it between a minimum and a maximum.
public func setBufferSizes(_ fd: Int32, receive: Int32, send: Int32) throws -> (receive: Int32, send: Int32) {
    try setIntOption(fd, SOL_SOCKET, SO_RCVBUF, receive)
    try setIntOption(fd, SOL_SOCKET, SO_SNDBUF, send)
    return (try intOption(fd, SOL_SOCKET, SO_RCVBUF), try intOption(fd, SOL_SOCKET, SO_SNDBUF))
}

// MARK: - Timeouts and blocking (Python's settimeout / gettimeout / setblocking)

/// Like Python's `s.settimeout(seconds)`: a blocking recv or send that waits longer than
/// `seconds` fails with EAGAIN. nil means no timeout: wait forever.
public func setTimeout(_ fd: Int32, _ seconds: Double?) throws {
    let seconds = max(0, seconds ?? 0)  // a zero timeval means "no timeout"
    // Int(x) traps on NaN and past Int's range: clamp first (a year is "for ever"). Round the
    // microseconds up, so that a tiny timeout stays one instead of becoming "none".
    let clamped = seconds.isNaN ? 0 : min(seconds, 365 * 86_400)
    let whole = Int(clamped)
    var time = timeval(tv_sec: whole, tv_usec: .init(min(((clamped - Double(whole)) * 1_000_000).rounded(.up), 999_999)))
    for name in [SO_RCVTIMEO, SO_SNDTIMEO] {
        guard setsockopt(fd, SOL_SOCKET, name, &time, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw SocketError(call: "setsockopt")
        }
    }
}

/// Like Python's `s.gettimeout()`: the receive timeout in seconds, or nil for none.
public func timeout(of fd: Int32) throws -> Double? {
    var time = timeval()
    var length = socklen_t(MemoryLayout<timeval>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, &length) == 0 else { throw SocketError(call: "getsockopt") }
    let seconds = Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000
    return seconds == 0 ? nil : seconds
}

/// Like Python's `s.setblocking(flag)`: in non-blocking mode, a call that would have to
/// wait fails at once with EAGAIN instead. It is a flag of the descriptor (O_NONBLOCK),
/// changed with fcntl, keeping the other flags as they are.
public func setBlocking(_ fd: Int32, _ blocking: Bool) throws {
    let flags = fcntl(fd, F_GETFL)
    guard flags >= 0 else { throw SocketError(call: "fcntl") }
    let updated = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK
    guard fcntl(fd, F_SETFL, updated) == 0 else { throw SocketError(call: "fcntl") }
}

/// A recv for a non-blocking socket: what has arrived (up to `maxSize` bytes), nil when
/// nothing has arrived yet, [] when the peer has closed.
///
/// EAGAIN (or EWOULDBLOCK) is not a failure here: it is the kernel saying "nothing yet".
public func receiveIfReady(_ fd: Int32, maxSize: Int) throws -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: maxSize)
    while true {
        let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if got >= 0 { return Array(buffer.prefix(got)) }
        switch errno {
        case EAGAIN, EWOULDBLOCK: return nil
        case EINTR: continue
        default: throw SocketError(call: "recv")
        }
    }
}

// MARK: - Asking about a socket

/// SO_ERROR: the error waiting on the socket (0 for none), for example the result of a
/// non-blocking connect. Reading it clears it.
public func pendingError(_ fd: Int32) throws -> Int32 {
    try intOption(fd, SOL_SOCKET, SO_ERROR)
}

/// SO_ACCEPTCONN: true when `listen` has been called on the socket.
public func isListening(_ fd: Int32) throws -> Bool {
    try intOption(fd, SOL_SOCKET, SO_ACCEPTCONN) != 0
}

/// The address of the other end of a connected socket, like Python's `s.getpeername()`.
public func peerAddress(of fd: Int32) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let result = withUnsafeMutablePointer(to: &storage) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
    }
    guard result == 0 else { throw SocketError(call: "getpeername") }
    return try SocketAddress(storage: storage, length: length)
}

// MARK: - Putting options to work

/// A TCP listener on `address` (IPv4 or IPv6) that a restarted server can always get back:
/// SO_REUSEADDR is set after socket() and before bind(), the only order in which it helps.
public func makeReusableListener(on address: SocketAddress, backlog: Int32 = 16) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    do {
        try setReuseAddress(fd, true)
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

/// Connects to `address`, giving up after `timeout` seconds.
///
/// A blocking connect to a host that does not answer waits for minutes. Instead: make the
/// socket non-blocking, start the connect (EINPROGRESS), wait with poll until it is
/// writable or the time is up, then read SO_ERROR to learn how the connect ended. Writable
/// only means "finished": finished can mean refused.
///
/// - Returns: a connected socket, in blocking mode again.
/// - Throws: `SocketError` naming "connect": ETIMEDOUT when the time ran out, or the
///   reason it failed (ECONNREFUSED...). Nothing is left open when it throws.
public func openConnection(to address: SocketAddress, timeout: Double) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    do {
        try setBlocking(fd, false)
        let started = try address.withSockAddr { pointer, length in connect(fd, pointer, length) }
        if started != 0 {
            guard errno == EINPROGRESS else { throw SocketError(call: "connect") }
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            // poll counts whole milliseconds in an Int32: round up (0.4 ms still waits) and
            // clamp, since Int32(x) traps on NaN and past 2^31 - 1.
            let milliseconds = timeout.isNaN ? 0 : Int32(min(max((timeout * 1000).rounded(.up), 0), Double(Int32.max)))
            let ready = poll(&entry, 1, milliseconds)
            guard ready >= 0 else { throw SocketError(call: "poll") }
            guard ready > 0 else { throw SocketError(call: "connect", code: ETIMEDOUT) }
            let error = try pendingError(fd)
            guard error == 0 else { throw SocketError(call: "connect", code: error) }
        }
        try setBlocking(fd, true)
        return fd
    } catch {
        _ = close(fd)
        throw error
    }
}
