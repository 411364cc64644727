// Known-good: sendmsg/recvmsg with an iovec and msghdr, truncation read from msg_flags (MSG_TRUNC), a buffer of exactly maxSize, serveUDP by recursion, poll in a repeat-while loop
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
    if fd == -1 { throw SocketError(call: "socket") }
    var failure: (any Error)?
    do {
        let status = try address.withSockAddr { bind(fd, $0, $1) }
        if status != 0 { failure = SocketError(call: "bind") }
    } catch {
        failure = error
    }
    if let failure {
        _ = close(fd)
        throw failure
    }
    return fd
}

public func sendDatagram(_ fd: Int32, _ bytes: [UInt8], to address: SocketAddress) throws {
    var copy = bytes
    let sent: Int = try address.withSockAddr { name, nameLength in
        copy.withUnsafeMutableBytes { raw in
            var piece = iovec(iov_base: raw.baseAddress, iov_len: raw.count)
            return withUnsafeMutablePointer(to: &piece) { vector in
                var message = msghdr()
                message.msg_name = UnsafeMutableRawPointer(mutating: name)
                message.msg_namelen = nameLength
                message.msg_iov = vector
                message.msg_iovlen = 1
                return sendmsg(fd, &message, sendNoSignal)
            }
        }
    }
    if sent < 0 { throw SocketError(call: "sendmsg") }
}

public func receiveDatagram(_ fd: Int32, maxSize: Int) throws -> Datagram {
    var buffer = [UInt8](repeating: 0, count: maxSize)
    var storage = sockaddr_storage()
    var nameLength = socklen_t(0)
    var flags: Int32 = 0
    let got: Int = buffer.withUnsafeMutableBytes { raw in
        withUnsafeMutableBytes(of: &storage) { name in
            var piece = iovec(iov_base: raw.baseAddress, iov_len: raw.count)
            return withUnsafeMutablePointer(to: &piece) { vector in
                var message = msghdr()
                message.msg_name = name.baseAddress
                message.msg_namelen = socklen_t(name.count)
                message.msg_iov = vector
                message.msg_iovlen = 1
                let result = recvmsg(fd, &message, 0)
                nameLength = message.msg_namelen
                flags = message.msg_flags
                return result
            }
        }
    }
    if got < 0 { throw SocketError(call: "recvmsg") }
    // The kernel says whether the datagram was longer than the buffer.
    return Datagram(
        bytes: Array(buffer[0..<got]),
        sender: try SocketAddress(storage: storage, length: nameLength),
        truncated: flags & Int32(MSG_TRUNC) != 0)
}

public func serveUDP(_ fd: Int32, requests: Int, reply: [UInt8]) throws {
    if requests <= 0 { return }
    let request = try receiveDatagram(fd, maxSize: 65_535)
    try sendDatagram(fd, reply, to: request.sender)
    try serveUDP(fd, requests: requests - 1, reply: reply)
}

public func requestWithRetry(
    _ fd: Int32, request: [UInt8], to server: SocketAddress, timeout: Double, attempts: Int
) throws -> [UInt8] {
    var attempt = 0
    while attempt < attempts {
        attempt += 1
        try sendDatagram(fd, request, to: server)
        let deadline = monotonicSeconds() + timeout
        var left = timeout
        repeat {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, Int32((left * 1000).rounded(.up)))
            if ready == -1 {
                if errno != EINTR { throw SocketError(call: "poll") }
            } else if ready == 1 {
                let datagram = try receiveDatagram(fd, maxSize: 65_535)
                if datagram.sender == server { return datagram.bytes }
            }
            left = deadline - monotonicSeconds()
        } while left > 0
    }
    throw NoReply(attempts: attempts, timeout: timeout)
}
