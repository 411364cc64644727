// Known-good: ioctl(FIONBIO) for blocking mode, SOCK_NONBLOCK | SOCK_CLOEXEC at socket(), MSG_DONTWAIT, inet_ntop by hand, modf for the timeval
import SocketKit

// MARK: - Helpers: one generic pair for every Int32 option

private func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, to value: Int32) throws {
    let result = withUnsafePointer(to: value) { pointer in
        setsockopt(fd, level, name, pointer, socklen_t(MemoryLayout<Int32>.size))
    }
    if result == -1 { throw SocketError(call: "setsockopt") }
}

private func option(_ fd: Int32, _ level: Int32, _ name: Int32) throws -> Int32 {
    var values: [Int32] = [0]
    var size = socklen_t(MemoryLayout<Int32>.size)
    let result = values.withUnsafeMutableBytes { getsockopt(fd, level, name, $0.baseAddress, &size) }
    if result == -1 { throw SocketError(call: "getsockopt") }
    return values[0]
}

public func setReuseAddress(_ fd: Int32, _ enabled: Bool) throws {
    try setOption(fd, SOL_SOCKET, SO_REUSEADDR, to: enabled ? 1 : 0)
}

public func setKeepAlive(_ fd: Int32, _ enabled: Bool) throws {
    try setOption(fd, SOL_SOCKET, SO_KEEPALIVE, to: enabled ? 1 : 0)
}

public func setNoDelay(_ fd: Int32, _ enabled: Bool) throws {
    try setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, to: enabled ? 1 : 0)
}

public func setBufferSizes(_ fd: Int32, receive: Int32, send: Int32) throws -> (receive: Int32, send: Int32) {
    for (name, size) in [(SO_RCVBUF, receive), (SO_SNDBUF, send)] {
        try setOption(fd, SOL_SOCKET, name, to: size)
    }
    let chosen = try [SO_RCVBUF, SO_SNDBUF].map { try option(fd, SOL_SOCKET, $0) }
    return (receive: chosen[0], send: chosen[1])
}

// MARK: - Timeouts and blocking

public func setTimeout(_ fd: Int32, _ seconds: Double?) throws {
    var time = timeval()
    if let seconds, seconds > 0 {
        var whole = 0.0
        let fraction = modf(seconds, &whole)
        time.tv_sec = .init(whole)
        time.tv_usec = .init(fraction * 1_000_000)
        if time.tv_sec == 0 && time.tv_usec == 0 { time.tv_usec = 1 }  // never "no timeout" by accident
    }
    for name in [SO_SNDTIMEO, SO_RCVTIMEO] {
        let result = withUnsafePointer(to: time) { setsockopt(fd, SOL_SOCKET, name, $0, socklen_t(MemoryLayout<timeval>.size)) }
        if result == -1 { throw SocketError(call: "setsockopt") }
    }
}

public func timeout(of fd: Int32) throws -> Double? {
    var time = timeval()
    var size = socklen_t(MemoryLayout<timeval>.size)
    if getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, &size) == -1 { throw SocketError(call: "getsockopt") }
    if time.tv_sec == 0 && time.tv_usec == 0 { return nil }
    return Double(time.tv_sec) + Double(time.tv_usec) * 1e-6
}

public func setBlocking(_ fd: Int32, _ blocking: Bool) throws {
    var nonBlocking: Int32 = blocking ? 0 : 1
    if ioctl(fd, UInt(FIONBIO), &nonBlocking) == -1 { throw SocketError(call: "ioctl") }
}

public func receiveIfReady(_ fd: Int32, maxSize: Int) throws -> [UInt8]? {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(maxSize, 1), alignment: 1)
    defer { buffer.deallocate() }
    while true {
        let count = recv(fd, buffer.baseAddress, maxSize, Int32(MSG_DONTWAIT))
        if count >= 0 { return [UInt8](buffer[0..<count]) }
        let code = errno
        if code == EINTR { continue }
        if code == EAGAIN || code == EWOULDBLOCK { return nil }
        throw SocketError(call: "recv", code: code)
    }
}

// MARK: - Asking about a socket

public func pendingError(_ fd: Int32) throws -> Int32 {
    try option(fd, SOL_SOCKET, SO_ERROR)
}

public func isListening(_ fd: Int32) throws -> Bool {
    try option(fd, SOL_SOCKET, SO_ACCEPTCONN) == 1
}

public func peerAddress(of fd: Int32) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let result = withUnsafeMutableBytes(of: &storage) { raw in
        getpeername(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &size)
    }
    if result == -1 { throw SocketError(call: "getpeername") }
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    switch Int32(storage.ss_family) {
    case AF_INET:
        var address = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) }
        guard inet_ntop(AF_INET, &address.sin_addr, &text, socklen_t(text.count)) != nil else { throw SocketError(call: "inet_ntop") }
        return .ipv4(host: decode(text), port: UInt16(bigEndian: address.sin_port))
    case AF_INET6:
        var address = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) }
        guard inet_ntop(AF_INET6, &address.sin6_addr, &text, socklen_t(text.count)) != nil else { throw SocketError(call: "inet_ntop") }
        return .ipv6(host: decode(text), port: UInt16(bigEndian: address.sin6_port))
    default:
        return try SocketAddress(storage: storage, length: size)
    }
}

private func decode(_ text: [CChar]) -> String {
    String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

// MARK: - Putting options to work

public func makeReusableListener(on address: SocketAddress, backlog: Int32 = 16) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue | Int32(SOCK_CLOEXEC.rawValue), 0)
    if fd == -1 { throw SocketError(call: "socket") }
    var handedOver = false
    defer { if !handedOver { _ = close(fd) } }
    try setOption(fd, SOL_SOCKET, SO_REUSEADDR, to: 1)
    try address.withSockAddr { pointer, length in
        if bind(fd, pointer, length) == -1 { throw SocketError(call: "bind") }
    }
    if listen(fd, backlog) == -1 { throw SocketError(call: "listen") }
    handedOver = true
    return fd
}

public func openConnection(to address: SocketAddress, timeout: Double) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue | Int32(SOCK_NONBLOCK.rawValue), 0)
    if fd == -1 { throw SocketError(call: "socket") }
    var handedOver = false
    defer { if !handedOver { _ = close(fd) } }
    let result = try address.withSockAddr { connect(fd, $0, $1) }
    if result == -1 {
        guard errno == EINPROGRESS else { throw SocketError(call: "connect") }
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        while true {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let elapsed = Double(now.tv_sec - start.tv_sec) + Double(now.tv_nsec - start.tv_nsec) / 1e9
            let left = timeout - elapsed
            if left <= 0 { throw SocketError(call: "connect", code: ETIMEDOUT) }
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&entry, 1, Int32((left * 1000).rounded(.up)))
            if ready > 0 { break }
            if ready == -1 && errno != EINTR { throw SocketError(call: "poll") }
        }
        let failure = try option(fd, SOL_SOCKET, SO_ERROR)
        if failure != 0 { throw SocketError(call: "connect", code: failure) }
    }
    try setBlocking(fd, true)
    handedOver = true
    return fd
}
