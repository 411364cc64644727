// Known-good: Foundation (Data, TimeInterval), read() instead of recv, a blocking connect bounded by SO_SNDTIMEO (Linux), a generic getsockopt
import Foundation
import SocketKit

// MARK: - A generic option reader and writer

private func readOption<Value>(_ fd: Int32, level: Int32, name: Int32, as type: Value.Type, initial: Value) throws -> Value {
    var value = initial
    var length = socklen_t(MemoryLayout<Value>.size)
    guard getsockopt(fd, level, name, &value, &length) == 0 else { throw SocketError(call: "getsockopt") }
    return value
}

private func writeOption<Value>(_ fd: Int32, level: Int32, name: Int32, _ value: Value) throws {
    var value = value
    guard setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Value>.size)) == 0 else {
        throw SocketError(call: "setsockopt")
    }
}

private func flag(_ enabled: Bool) -> Int32 { enabled ? 1 : 0 }

public func setReuseAddress(_ fd: Int32, _ enabled: Bool) throws {
    try writeOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, flag(enabled))
}

public func setKeepAlive(_ fd: Int32, _ enabled: Bool) throws {
    try writeOption(fd, level: SOL_SOCKET, name: SO_KEEPALIVE, flag(enabled))
}

public func setNoDelay(_ fd: Int32, _ enabled: Bool) throws {
    try writeOption(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, flag(enabled))
}

public func setBufferSizes(_ fd: Int32, receive: Int32, send: Int32) throws -> (receive: Int32, send: Int32) {
    try writeOption(fd, level: SOL_SOCKET, name: SO_SNDBUF, send)
    try writeOption(fd, level: SOL_SOCKET, name: SO_RCVBUF, receive)
    let sendChosen = try readOption(fd, level: SOL_SOCKET, name: SO_SNDBUF, as: Int32.self, initial: 0)
    let receiveChosen = try readOption(fd, level: SOL_SOCKET, name: SO_RCVBUF, as: Int32.self, initial: 0)
    return (receiveChosen, sendChosen)
}

// MARK: - Timeouts and blocking

private func timevalFor(_ seconds: TimeInterval) -> timeval {
    guard seconds > 0 else { return timeval() }
    var whole = Int(seconds.rounded(.down))
    var micro = Int(((seconds - Double(whole)) * 1_000_000).rounded())
    if micro >= 1_000_000 { whole += 1; micro -= 1_000_000 }
    if whole == 0 && micro == 0 { micro = 1 }
    return timeval(tv_sec: .init(whole), tv_usec: .init(micro))
}

public func setTimeout(_ fd: Int32, _ seconds: Double?) throws {
    let time = timevalFor(seconds ?? 0)
    try writeOption(fd, level: SOL_SOCKET, name: SO_RCVTIMEO, time)
    try writeOption(fd, level: SOL_SOCKET, name: SO_SNDTIMEO, time)
}

public func timeout(of fd: Int32) throws -> Double? {
    let time = try readOption(fd, level: SOL_SOCKET, name: SO_RCVTIMEO, as: timeval.self, initial: timeval())
    let seconds = TimeInterval(time.tv_sec) + TimeInterval(time.tv_usec) / 1_000_000
    return seconds > 0 ? seconds : nil
}

public func setBlocking(_ fd: Int32, _ blocking: Bool) throws {
    let flags = fcntl(fd, F_GETFL)
    if flags == -1 { throw SocketError(call: "fcntl") }
    let isBlocking = flags & O_NONBLOCK == 0
    if isBlocking == blocking { return }  // already so
    if fcntl(fd, F_SETFL, flags ^ O_NONBLOCK) == -1 { throw SocketError(call: "fcntl") }
}

public func receiveIfReady(_ fd: Int32, maxSize: Int) throws -> [UInt8]? {
    var data = Data(count: maxSize)
    var count = 0
    repeat {
        count = data.withUnsafeMutableBytes { read(fd, $0.baseAddress, maxSize) }
    } while count == -1 && errno == EINTR
    if count == -1 {
        if errno == EAGAIN || errno == EWOULDBLOCK { return nil }
        throw SocketError(call: "read")
    }
    return [UInt8](data.prefix(count))
}

// MARK: - Asking about a socket

public func pendingError(_ fd: Int32) throws -> Int32 {
    try readOption(fd, level: SOL_SOCKET, name: SO_ERROR, as: Int32.self, initial: 0)
}

public func isListening(_ fd: Int32) throws -> Bool {
    try readOption(fd, level: SOL_SOCKET, name: SO_ACCEPTCONN, as: Int32.self, initial: 0) != 0
}

public func peerAddress(of fd: Int32) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout.size(ofValue: storage))
    let result = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
    }
    if result != 0 { throw SocketError(call: "getpeername") }
    return try SocketAddress(storage: storage, length: length)
}

// MARK: - Putting options to work

public func makeReusableListener(on address: SocketAddress, backlog: Int32 = 16) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    if fd < 0 { throw SocketError(call: "socket") }
    do {
        try setReuseAddress(fd, true)
        let bound = try address.withSockAddr { bind(fd, $0, $1) }
        if bound != 0 { throw SocketError(call: "bind") }
        if listen(fd, backlog) != 0 { throw SocketError(call: "listen") }
    } catch {
        close(fd)
        throw error
    }
    return fd
}

/// Linux bounds a blocking connect by SO_SNDTIMEO: when it runs out, connect fails with
/// EINPROGRESS. The timeout is cleared again before the socket is handed back.
public func openConnection(to address: SocketAddress, timeout: Double) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    if fd < 0 { throw SocketError(call: "socket") }
    do {
        try writeOption(fd, level: SOL_SOCKET, name: SO_SNDTIMEO, timevalFor(timeout))
        let result = try address.withSockAddr { connect(fd, $0, $1) }
        if result == -1 {
            let code = errno
            throw SocketError(call: "connect", code: code == EINPROGRESS || code == EAGAIN ? ETIMEDOUT : code)
        }
        try writeOption(fd, level: SOL_SOCKET, name: SO_SNDTIMEO, timeval())
        return fd
    } catch {
        close(fd)
        throw error
    }
}
