// Known-good: ioctl(FIONBIO) to make the socket non-blocking for the wait (and blocking again after), reads drained with recvfrom until EAGAIN, receiveDatagram waiting in poll before a MSG_DONTWAIT read, and a server that answers with write() on a socket connect()ed to the client for the moment (disconnected with AF_UNSPEC right after: a server bound to its own port keeps it)
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
    if fd < 0 { throw SocketError(call: "socket") }
    let outcome = Result { () throws -> Void in
        try address.withSockAddr { name, length in
            if bind(fd, name, length) != 0 { throw SocketError(call: "bind") }
        }
    }
    if case .failure(let error) = outcome {
        _ = close(fd)
        throw error
    }
    return fd
}

public func sendDatagram(_ fd: Int32, _ bytes: [UInt8], to address: SocketAddress) throws {
    let sent = try address.withSockAddr { name, length in
        bytes.withUnsafeBufferPointer { sendto(fd, $0.baseAddress, $0.count, sendNoSignal, name, length) }
    }
    if sent < 0 { throw SocketError(call: "sendto") }
}

/// One recvfrom that does not block: nil when nothing is waiting (EAGAIN).
private func takeDatagram(_ fd: Int32, maxSize: Int) throws -> Datagram? {
    var buffer = [UInt8](repeating: 0, count: maxSize + 1)
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let got = buffer.withUnsafeMutableBytes { raw in
        withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                recvfrom(fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT), $0, &length)
            }
        }
    }
    if got < 0 {
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return nil }
        throw SocketError(call: "recvfrom")
    }
    return Datagram(
        bytes: Array(buffer[..<min(got, maxSize)]),
        sender: try SocketAddress(storage: storage, length: length),
        truncated: got == maxSize + 1)
}

public func receiveDatagram(_ fd: Int32, maxSize: Int) throws -> Datagram {
    while true {
        if let datagram = try takeDatagram(fd, maxSize: maxSize) { return datagram }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&entry, 1, -1) < 0 && errno != EINTR { throw SocketError(call: "poll") }
    }
}

public func serveUDP(_ fd: Int32, requests: Int, reply: [UInt8]) throws {
    var left = requests
    while left > 0 {
        left -= 1
        let request = try receiveDatagram(fd, maxSize: 2_048)
        // For the moment of the answer, the socket talks to this client only: write() sends to it.
        try request.sender.withSockAddr { name, length in
            if connect(fd, name, length) != 0 { throw SocketError(call: "connect") }
        }
        let written = reply.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let failure = written < 0 ? SocketError(call: "write") : nil
        var unspecified = sockaddr()
        unspecified.sa_family = sa_family_t(AF_UNSPEC)
        _ = connect(fd, &unspecified, socklen_t(MemoryLayout<sockaddr>.size))
        if let failure { throw failure }
    }
}

public func requestWithRetry(
    _ fd: Int32, request: [UInt8], to server: SocketAddress, timeout: Double, attempts: Int
) throws -> [UInt8] {
    var on: Int32 = 1
    if ioctl(fd, UInt(FIONBIO), &on) != 0 { throw SocketError(call: "ioctl(FIONBIO)") }
    defer {
        var off: Int32 = 0
        _ = ioctl(fd, UInt(FIONBIO), &off)
    }
    var sent = 0
    while sent < attempts {
        try sendDatagram(fd, request, to: server)
        sent += 1
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(((deadline - monotonicSeconds()) * 1000).rounded(.up))
            if poll(&entry, 1, max(0, milliseconds)) < 0 && errno != EINTR { throw SocketError(call: "poll") }
            // Everything that has come, in order; only the server's datagram is the answer.
            while let datagram = try takeDatagram(fd, maxSize: 65_507) {
                if datagram.sender == server { return datagram.bytes }
            }
        }
    }
    throw NoReply(attempts: attempts, timeout: timeout)
}
