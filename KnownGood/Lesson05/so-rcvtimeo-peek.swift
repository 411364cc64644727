// Known-good: SO_RCVTIMEO instead of poll (a fractional timeval, never {0, 0}, the old value restored), the datagram's length peeked with MSG_PEEK | MSG_TRUNC, Foundation's Data as the buffer, SOCK_CLOEXEC, the sender compared field by field
import Foundation
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
    let fd = socket(address.family.rawValue, SocketType.datagram.rawValue | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    var bound = false
    defer { if !bound { _ = close(fd) } }
    try address.withSockAddr { name, length in
        if bind(fd, name, length) == -1 { throw SocketError(call: "bind") }
    }
    bound = true
    return fd
}

public func sendDatagram(_ fd: Int32, _ bytes: [UInt8], to address: SocketAddress) throws {
    let data = Data(bytes)
    let sent = try address.withSockAddr { name, length in
        data.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, sendNoSignal, name, length) }
    }
    if sent == -1 { throw SocketError(call: "sendto") }
}

public func receiveDatagram(_ fd: Int32, maxSize: Int) throws -> Datagram {
    // Linux: with MSG_TRUNC, recv returns the datagram's real length; MSG_PEEK leaves it queued.
    var length = -1
    repeat {
        length = recv(fd, nil, 0, Int32(MSG_PEEK | MSG_TRUNC))
    } while length < 0 && errno == EINTR
    if length < 0 { throw SocketError(call: "recv") }
    var data = Data(count: min(length, maxSize))
    var storage = sockaddr_storage()
    var storageLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let got = data.withUnsafeMutableBytes { raw in
        withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                recvfrom(fd, raw.baseAddress, raw.count, 0, $0, &storageLength)
            }
        }
    }
    if got < 0 { throw SocketError(call: "recvfrom") }
    return Datagram(
        bytes: [UInt8](data.prefix(got)),
        sender: try SocketAddress(storage: storage, length: storageLength),
        truncated: length > maxSize)
}

public func serveUDP(_ fd: Int32, requests: Int, reply: [UInt8]) throws {
    for _ in stride(from: 0, to: requests, by: 1) {
        let request = try receiveDatagram(fd, maxSize: 65_507)
        try sendDatagram(fd, reply, to: request.sender)
    }
}

public func requestWithRetry(
    _ fd: Int32, request: [UInt8], to server: SocketAddress, timeout: Double, attempts: Int
) throws -> [UInt8] {
    // The socket's own receive timeout, put back on the way out.
    var saved = timeval()
    var savedLength = socklen_t(MemoryLayout<timeval>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &saved, &savedLength) == 0 else { throw SocketError(call: "getsockopt") }
    defer { _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &saved, savedLength) }

    for _ in 0..<attempts {
        try sendDatagram(fd, request, to: server)
        let deadline = monotonicSeconds() + timeout
        while case let left = deadline - monotonicSeconds(), left > 0 {
            // At least 1 µs: a timeval of {0, 0} means "no timeout", not "none left".
            let micros = max(1, Int((left * 1_000_000).rounded(.up)))
            var wait = timeval(tv_sec: micros / 1_000_000, tv_usec: .init(micros % 1_000_000))
            guard setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
                throw SocketError(call: "setsockopt")
            }
            let datagram: Datagram
            do {
                datagram = try receiveDatagram(fd, maxSize: 65_507)
            } catch let error as SocketError where error.code == EAGAIN || error.code == EWOULDBLOCK || error.code == EINTR {
                continue  // this wait timed out (or a signal came): the loop checks the deadline
            }
            let sender = datagram.sender
            if sender.family == server.family, sender.host == server.host, sender.port == server.port {
                return datagram.bytes
            }
        }
    }
    throw NoReply(attempts: attempts, timeout: timeout)
}
