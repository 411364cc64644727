// Lesson 5: UDP. Datagrams: no connection, no stream, no promise of delivery.
// Read Lessons/05-udp.md first. Grade with: swift test --filter Lesson05
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

/// Makes a UDP socket bound to `address`, like Python's
/// `s = socket.socket(AF_INET, SOCK_DGRAM); s.bind((host, port))`. Port 0 lets the kernel
/// choose (what a client usually wants). There is no listen and no accept for UDP.
///
/// - Throws: `SocketError` naming the call that failed. Nothing is left open when it throws.
public func openUDPSocket(boundTo address: SocketAddress) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.datagram.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    do {
        try address.withSockAddr { pointer, length in
            guard bind(fd, pointer, length) == 0 else { throw SocketError(call: "bind") }
        }
        return fd
    } catch {
        _ = close(fd)
        throw error
    }
}

/// Sends `bytes` as one datagram to `address`, like Python's `s.sendto(bytes, address)`.
///
/// - Throws: `SocketError` naming "sendto" (EMSGSIZE when it is too big for one datagram).
public func sendDatagram(_ fd: Int32, _ bytes: [UInt8], to address: SocketAddress) throws {
    let sent = try address.withSockAddr { pointer, length in
        bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, sendNoSignal, pointer, length) }
    }
    // A datagram goes whole or not at all: there is no partial send to loop over.
    guard sent >= 0 else { throw SocketError(call: "sendto") }
}

/// Receives one datagram of at most `maxSize` bytes, like Python's `s.recvfrom(maxSize)`.
///
/// One call, one datagram: two datagrams are never joined, and a datagram longer than
/// `maxSize` is cut to `maxSize` with `truncated` set (the rest is gone for good).
///
/// - Throws: `SocketError` naming "recvfrom" when the call fails.
public func receiveDatagram(_ fd: Int32, maxSize: Int) throws -> Datagram {
    // One byte more than asked for: if it gets filled, the datagram was longer than
    // maxSize. (Linux can also report the full length with the MSG_TRUNC flag; this way
    // works everywhere.)
    var buffer = [UInt8](repeating: 0, count: maxSize + 1)
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let got = buffer.withUnsafeMutableBytes { raw in
        withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                recvfrom(fd, raw.baseAddress, raw.count, 0, $0, &length)
            }
        }
    }
    guard got >= 0 else { throw SocketError(call: "recvfrom") }
    return Datagram(
        bytes: Array(buffer.prefix(min(got, maxSize))),
        sender: try SocketAddress(storage: storage, length: length),
        truncated: got > maxSize)
}

/// A tiny UDP server: receives `requests` datagrams and answers each one with `reply`,
/// sent back to whoever sent it (the address recvfrom gave).
public func serveUDP(_ fd: Int32, requests: Int, reply: [UInt8]) throws {
    for _ in 0..<requests {
        let request = try receiveDatagram(fd, maxSize: 65_507)
        try sendDatagram(fd, reply, to: request.sender)
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

/// Sends `request` to `server` and waits up to `timeout` seconds for its reply; when none
/// comes (datagrams can be lost), sends again, `attempts` times in all.
///
/// Only a datagram from `server` counts as the reply: anything from another address is
/// ignored.
///
/// - Throws: `NoReply` when every attempt timed out; `SocketError` when a call fails.
public func requestWithRetry(
    _ fd: Int32, request: [UInt8], to server: SocketAddress, timeout: Double, attempts: Int
) throws -> [UInt8] {
    for _ in 0..<attempts {
        try sendDatagram(fd, request, to: server)
        let deadline = monotonicSeconds() + timeout
        while true {
            let remaining = deadline - monotonicSeconds()
            guard remaining > 0 else { break }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            // Whole milliseconds, rounded up by one; clamped, since Int32(x) traps past 2^31 - 1.
            let ready = poll(&entry, 1, Int32(min(remaining * 1000, Double(Int32.max - 1))) + 1)
            if ready < 0 && errno != EINTR { throw SocketError(call: "poll") }
            if ready <= 0 { continue }  // timed out (the loop ends) or interrupted
            let datagram = try receiveDatagram(fd, maxSize: 65_507)
            if datagram.sender == server { return datagram.bytes }
            // From someone else: not our answer. Keep waiting, within the same deadline.
        }
    }
    throw NoReply(attempts: attempts, timeout: timeout)
}

/// Seconds on a clock that never jumps (unlike the time of day). Given.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
