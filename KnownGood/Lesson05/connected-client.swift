// Known-good: requestWithRetry on a connect()ed socket (the kernel drops strangers; stale datagrams drained first; it stays connected to its server: on Linux, disconnecting with AF_UNSPEC would also give up a port the kernel chose), send/recv with MSG_DONTWAIT after poll, recvfrom's MSG_TRUNC flag for the real length, arrays passed to C as pointers, a while loop in serveUDP
import SocketKit

/// One datagram as it arrived: its bytes, who sent it, and whether it was cut short.
public struct Datagram: Hashable, Sendable {
    public var bytes: [UInt8]
    public var sender: SocketAddress
    /// True when the datagram was longer than the buffer: the rest of it is lost.
    public var truncated: Bool

    public init(bytes: [UInt8], sender: SocketAddress, truncated: Bool) {
        self.bytes = bytes
        self.sender = sender
        self.truncated = truncated
    }
}

/// The reply never came, after every attempt.
public struct NoReply: Error, Hashable, Sendable, CustomStringConvertible {
    public let attempts: Int
    public let timeout: Double

    public init(attempts: Int, timeout: Double) {
        self.attempts = attempts
        self.timeout = timeout
    }

    public var description: String { "no reply after \(attempts) attempts of \(timeout) s each" }
}

/// Seconds on a clock that never jumps (unlike the time of day). Given.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

public func openUDPSocket(boundTo address: SocketAddress) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.datagram.rawValue, 0)
    guard fd != -1 else { throw SocketError(call: "socket") }
    do {
        let result = try address.withSockAddr { bind(fd, $0, $1) }
        guard result == 0 else { throw SocketError(call: "bind") }
    } catch {
        close(fd)
        throw error
    }
    return fd
}

public func sendDatagram(_ fd: Int32, _ bytes: [UInt8], to address: SocketAddress) throws {
    let sent = try address.withSockAddr { sendto(fd, bytes, bytes.count, sendNoSignal, $0, $1) }
    guard sent != -1 else { throw SocketError(call: "sendto") }
}

public func receiveDatagram(_ fd: Int32, maxSize: Int) throws -> Datagram {
    var buffer = [UInt8](repeating: 0, count: maxSize)
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    // Linux: with MSG_TRUNC, recvfrom returns the datagram's real length, even past the buffer.
    let real = withUnsafeMutablePointer(to: &storage) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            recvfrom(fd, &buffer, buffer.count, Int32(MSG_TRUNC), $0, &length)
        }
    }
    guard real != -1 else { throw SocketError(call: "recvfrom") }
    return Datagram(
        bytes: Array(buffer.prefix(min(real, maxSize))),
        sender: try SocketAddress(storage: storage, length: length),
        truncated: real > maxSize)
}

public func serveUDP(_ fd: Int32, requests: Int, reply: [UInt8]) throws {
    var served = 0
    while served < requests {
        let request = try receiveDatagram(fd, maxSize: 65_507)
        try sendDatagram(fd, reply, to: request.sender)
        served += 1
    }
}

public func requestWithRetry(
    _ fd: Int32, request: [UInt8], to server: SocketAddress, timeout: Double, attempts: Int
) throws -> [UInt8] {
    // Connected, the socket hears only from the server: the kernel drops everyone else.
    try server.withSockAddr { name, length in
        guard connect(fd, name, length) == 0 else { throw SocketError(call: "connect") }
    }
    var buffer = [UInt8](repeating: 0, count: 65_536)
    // Whatever was queued before the connect may be anyone's: drop it.
    while recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)) >= 0 {}

    for _ in 0..<attempts {
        let sent = send(fd, request, request.count, sendNoSignal)
        guard sent != -1 else { throw SocketError(call: "send") }
        let deadline = monotonicSeconds() + timeout
        var left = timeout
        while left > 0 {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, Int32(left * 1000) + 1)
            if ready < 0 && errno != EINTR { throw SocketError(call: "poll") }
            if ready > 0 {
                let got = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if got >= 0 { return Array(buffer.prefix(got)) }
                if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { throw SocketError(call: "recv") }
            }
            left = deadline - monotonicSeconds()
        }
    }
    throw NoReply(attempts: attempts, timeout: timeout)
}
