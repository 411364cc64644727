// Known-good: recvmsg with an iovec, poll(0) before reading, recursion instead of loops, a connect wait in 50 ms poll slices, Int-sized option values
import SocketKit

// MARK: - Setting options

/// Every flag option goes through here; the value is passed as a full Int (Linux reads the
/// first 4 bytes) and read back the same way.
private func setFlag(_ fd: Int32, level: Int32, name: Int32, _ on: Bool) throws {
    var value: Int = on ? 1 : 0
    if setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int>.size)) < 0 {
        throw SocketError(call: "setsockopt")
    }
}

private func readInt(_ fd: Int32, level: Int32, name: Int32) throws -> Int32 {
    var value: Int = 0
    var length = socklen_t(MemoryLayout<Int>.size)
    if getsockopt(fd, level, name, &value, &length) < 0 { throw SocketError(call: "getsockopt") }
    return Int32(truncatingIfNeeded: value)
}

public func setReuseAddress(_ fd: Int32, _ enabled: Bool) throws {
    try setFlag(fd, level: SOL_SOCKET, name: SO_REUSEADDR, enabled)
}

public func setKeepAlive(_ fd: Int32, _ enabled: Bool) throws {
    try setFlag(fd, level: SOL_SOCKET, name: SO_KEEPALIVE, enabled)
}

public func setNoDelay(_ fd: Int32, _ enabled: Bool) throws {
    try setFlag(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, enabled)
}

public func setBufferSizes(_ fd: Int32, receive: Int32, send: Int32) throws -> (receive: Int32, send: Int32) {
    var sizes = [receive, send]
    let names = [SO_RCVBUF, SO_SNDBUF]
    for index in 0..<2 {
        if setsockopt(fd, SOL_SOCKET, names[index], &sizes[index], socklen_t(MemoryLayout<Int32>.size)) < 0 {
            throw SocketError(call: "setsockopt")
        }
    }
    return (try readInt(fd, level: SOL_SOCKET, name: SO_RCVBUF), try readInt(fd, level: SOL_SOCKET, name: SO_SNDBUF))
}

// MARK: - Timeouts and blocking

public func setTimeout(_ fd: Int32, _ seconds: Double?) throws {
    // All of it in microseconds first, rounded up, then split: a positive timeout never
    // becomes zero.
    let total = seconds.map { Int64(($0 * 1_000_000).rounded(.up)) } ?? 0
    var time = timeval(tv_sec: .init(max(0, total) / 1_000_000), tv_usec: .init(max(0, total) % 1_000_000))
    try [SO_RCVTIMEO, SO_SNDTIMEO].forEach { name in
        if setsockopt(fd, SOL_SOCKET, name, &time, socklen_t(MemoryLayout<timeval>.size)) < 0 {
            throw SocketError(call: "setsockopt")
        }
    }
}

public func timeout(of fd: Int32) throws -> Double? {
    var time = timeval()
    var length = socklen_t(MemoryLayout<timeval>.size)
    if getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, &length) < 0 { throw SocketError(call: "getsockopt") }
    let microseconds = Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_usec)
    return microseconds == 0 ? nil : Double(microseconds) / 1_000_000
}

public func setBlocking(_ fd: Int32, _ blocking: Bool) throws {
    let current = fcntl(fd, F_GETFL)
    if current < 0 { throw SocketError(call: "fcntl") }
    var wanted = current
    if blocking { wanted &= ~O_NONBLOCK } else { wanted |= O_NONBLOCK }
    if wanted != current, fcntl(fd, F_SETFL, wanted) < 0 { throw SocketError(call: "fcntl") }
}

/// poll(0) first: nothing readable means nothing yet. Readable (data, end-of-file, an error,
/// or POLLNVAL for a closed descriptor) goes to recvmsg, which says which.
public func receiveIfReady(_ fd: Int32, maxSize: Int) throws -> [UInt8]? {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let ready = poll(&entry, 1, 0)
    if ready < 0 {
        if errno == EINTR { return try receiveIfReady(fd, maxSize: maxSize) }
        throw SocketError(call: "poll")
    }
    if ready == 0 { return nil }
    var buffer = [UInt8](repeating: 0, count: maxSize)
    let count = buffer.withUnsafeMutableBytes { raw -> Int in
        var vector = iovec(iov_base: raw.baseAddress, iov_len: raw.count)
        return withUnsafeMutablePointer(to: &vector) { vectorPointer in
            var message = msghdr()
            message.msg_iov = vectorPointer
            message.msg_iovlen = 1
            return recvmsg(fd, &message, Int32(MSG_DONTWAIT))
        }
    }
    if count >= 0 { return Array(buffer[..<count]) }
    switch errno {
    case EINTR: return try receiveIfReady(fd, maxSize: maxSize)
    case EAGAIN, EWOULDBLOCK: return nil
    default: throw SocketError(call: "recvmsg")
    }
}

// MARK: - Asking about a socket

public func pendingError(_ fd: Int32) throws -> Int32 {
    try readInt(fd, level: SOL_SOCKET, name: SO_ERROR)
}

public func isListening(_ fd: Int32) throws -> Bool {
    try readInt(fd, level: SOL_SOCKET, name: SO_ACCEPTCONN) != 0
}

public func peerAddress(of fd: Int32) throws -> SocketAddress {
    var raw = [UInt8](repeating: 0, count: MemoryLayout<sockaddr_storage>.size)
    var length = socklen_t(raw.count)
    let result = raw.withUnsafeMutableBytes { bytes in
        getpeername(fd, bytes.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
    }
    if result < 0 { throw SocketError(call: "getpeername") }
    let storage = raw.withUnsafeBytes { $0.load(as: sockaddr_storage.self) }
    return try SocketAddress(storage: storage, length: length)
}

// MARK: - Putting options to work

public func makeReusableListener(on address: SocketAddress, backlog: Int32 = 16) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    if fd < 0 { throw SocketError(call: "socket") }
    let closeAndRethrow = { (error: any Error) -> any Error in
        _ = close(fd)
        return error
    }
    do { try setReuseAddress(fd, true) } catch { throw closeAndRethrow(error) }
    do {
        try address.withSockAddr { pointer, length in
            if bind(fd, pointer, length) < 0 { throw SocketError(call: "bind") }
        }
    } catch { throw closeAndRethrow(error) }
    if listen(fd, backlog) < 0 { throw closeAndRethrow(SocketError(call: "listen")) }
    return fd
}

private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Waits for POLLOUT in slices of at most 50 ms until `deadline`; true when writable.
private func waitWritable(_ fd: Int32, until deadline: Double) throws -> Bool {
    let left = deadline - monotonicSeconds()
    if left <= 0 { return false }
    var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
    let ready = poll(&entry, 1, Int32(min(50, max(1, (left * 1000).rounded(.up)))))
    if ready > 0 { return true }
    if ready < 0 && errno != EINTR { throw SocketError(call: "poll") }
    return try waitWritable(fd, until: deadline)
}

public func openConnection(to address: SocketAddress, timeout: Double) throws -> Int32 {
    let deadline = monotonicSeconds() + timeout
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    if fd < 0 { throw SocketError(call: "socket") }
    do {
        try setBlocking(fd, false)
        let started = try address.withSockAddr { connect(fd, $0, $1) }
        if started < 0 {
            if errno != EINPROGRESS { throw SocketError(call: "connect") }
            if try !waitWritable(fd, until: deadline) { throw SocketError(call: "connect", code: ETIMEDOUT) }
            let failure = try pendingError(fd)
            if failure != 0 { throw SocketError(call: "connect", code: failure) }
        }
        try setBlocking(fd, true)
        return fd
    } catch {
        _ = close(fd)
        throw error
    }
}
