// Lesson 5: UDP. Datagrams: no connection, no stream, no promise of delivery.
// Read Lessons/05-udp.md first. Grade with: swift test --filter Lesson05
//
// The types at the top (Datagram, NoReply) and monotonicSeconds() at the bottom are
// given. Each function is a stub: it throws NotStarted() until you replace its body.
// `import SocketKit` brings in socket, bind, sendto, recvfrom, poll, close, errno,
// SocketError, SocketAddress and `sendNoSignal`.
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
/// Bind exactly the address given: any of 127.0.0.0/8 (127.45.6.7 as well as 127.0.0.1),
/// ::1, with its port.
///
/// - Throws: `SocketError` naming the call that failed (a port in use, a full descriptor
///   table, a host that is not an address: `withSockAddr` throws). Nothing is left open
///   when it throws, whichever step failed.
///
/// Steps: `socket(address.family.rawValue, SocketType.datagram.rawValue, 0)`, checked;
/// `bind` inside `address.withSockAddr { pointer, length in ... }`; close on failure.
public func openUDPSocket(boundTo address: SocketAddress) throws -> Int32 {
    throw NotStarted()
}

/// Sends `bytes` as one datagram to `address`, like Python's `s.sendto(bytes, address)`.
/// All of them in ONE datagram, from `fd` itself, whatever their number: 0 bytes is an
/// empty datagram, and up to 65,507 fit over IPv4. `fd` stays unconnected (it still
/// receives from anyone).
///
/// - Throws: `SocketError` naming "sendto" (EMSGSIZE when it is too big for one datagram;
///   nothing is sent then). Decide from sendto's result, not from errno.
///
/// Steps: inside `address.withSockAddr`, call
/// `sendto(fd, bytesPointer, bytes.count, sendNoSignal, pointer, length)`; -1 is an error.
public func sendDatagram(_ fd: Int32, _ bytes: [UInt8], to address: SocketAddress) throws {
    throw NotStarted()
}

/// Receives one datagram of at most `maxSize` bytes, like Python's `s.recvfrom(maxSize)`.
///
/// One call, one datagram: two datagrams are never joined, and a datagram longer than
/// `maxSize` is cut to `maxSize` with `truncated` set (the rest is gone for good). A
/// datagram of exactly `maxSize` bytes is whole (not truncated); a 0-byte datagram is a
/// datagram too (UDP has no end-of-file). The sender is exact: IPv4 or IPv6, address, port.
///
/// - Throws: `SocketError` naming "recvfrom" when the call fails.
///
/// Steps: a buffer of `maxSize + 1` bytes (if the extra byte gets filled, the datagram was
/// too long), a `sockaddr_storage` and its length; one `recvfrom`; return the bytes (at
/// most `maxSize`), `SocketAddress(storage:length:)` as the sender, and whether it was cut.
public func receiveDatagram(_ fd: Int32, maxSize: Int) throws -> Datagram {
    throw NotStarted()
}

/// A tiny UDP server: receives `requests` datagrams and answers each one with `reply`,
/// sent back to whoever sent it (the address recvfrom gave), from `fd` itself: a client
/// knows the server by its address and port. Each request is answered before the next is
/// read (a client may wait for its reply before anyone else sends); an empty one too.
///
/// - Throws: `SocketError` when a call fails.
///
/// Steps: `requests` times: `receiveDatagram`, then `sendDatagram(fd, reply, to: its sender)`.
public func serveUDP(_ fd: Int32, requests: Int, reply: [UInt8]) throws {
    throw NotStarted()
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
/// Only a datagram from `server` counts as the reply: anything from another address (or
/// another port) is ignored, and does not extend the attempt's deadline. `timeout` may be
/// a fraction (0.25 s). A reply returns as soon as it arrives, and can be as long as any
/// datagram: receive it with `maxSize: 65_507`.
///
/// - Throws: `NoReply` when every attempt timed out; `SocketError` when a call fails (a
///   failed send is an error, not a lost datagram).
///
/// Steps: for each attempt: send; set a deadline `monotonicSeconds() + timeout`; until it
/// passes, `poll` for POLLIN with the time remaining (in milliseconds), and on data
/// `receiveDatagram(fd, maxSize: 65_507)`: return its bytes if its sender is `server`,
/// else keep waiting. After the last attempt, throw `NoReply(attempts: attempts, timeout: timeout)`.
public func requestWithRetry(
    _ fd: Int32, request: [UInt8], to server: SocketAddress, timeout: Double, attempts: Int
) throws -> [UInt8] {
    throw NotStarted()
}

/// Seconds on a clock that never jumps (unlike the time of day). Given.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
