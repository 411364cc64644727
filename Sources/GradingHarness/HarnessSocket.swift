import Foundation
import SocketKit

/// The descriptors the harness itself owns, so that the leak census never blames the
/// learner for them.
///
/// A harness socket is registered under the same lock the census takes for its snapshot,
/// so a snapshot never sees one half-made. Connections the harness accepts appear in the
/// kernel before they can be registered; the census recognises those by their local
/// address, which is a harness listener's.
enum HarnessOwned {
    static let lock = NSLock()
    nonisolated(unsafe) private static var descriptors: Set<Int32> = []
    nonisolated(unsafe) private static var listeners: Set<SocketAddress> = []

    /// Runs `open` and registers what it returns, atomically with respect to `snapshot`.
    static func register(_ open: () throws(SocketError) -> Int32) throws(SocketError) -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        let fd = try open()
        descriptors.insert(fd)
        return fd
    }

    static func adopt(_ fd: Int32) {
        lock.withLock { _ = descriptors.insert(fd) }
    }

    static func addListener(_ address: SocketAddress) {
        lock.withLock { _ = listeners.insert(address) }
    }

    /// Unregisters and closes, atomically: the number cannot be reused in between.
    static func close(_ fd: Int32, listener: SocketAddress?) {
        lock.withLock {
            descriptors.remove(fd)
            if let listener { listeners.remove(listener) }
            _ = LibC.close(fd)
        }
    }

    /// Call with `lock` held.
    static func owns(_ fd: Int32) -> Bool {
        if descriptors.contains(fd) { return true }
        guard !listeners.isEmpty, let local = try? Inspect.localAddress(fd) else { return false }
        return listeners.contains(local)
    }
}

extension Inspect {
    /// True when the harness owns `fd` (a grader must never close it on the learner's behalf).
    public static func isHarnessOwned(_ fd: Int32) -> Bool {
        HarnessOwned.lock.withLock { HarnessOwned.owns(fd) }
    }
}

/// A socket owned by the harness: the graders' end of every connection.
///
/// Thin and checked like SocketKit, with timeouts on everything that could block, so a
/// grader never hangs on a learner's mistake.
public final class HarnessSocket: @unchecked Sendable {
    public let fd: Int32
    private let listenerAddress: SocketAddress?
    private let state = NSLock()
    private var isClosed = false

    private init(fd: Int32, listenerAddress: SocketAddress? = nil) {
        self.fd = fd
        self.listenerAddress = listenerAddress
        // macOS: a write to a reset connection must fail with EPIPE, not kill the test run.
        try? suppressSIGPIPE(on: fd)
    }

    deinit { close() }

    /// A new, unconnected socket.
    public static func make(_ family: AddressFamily = .inet, _ type: SocketType = .stream) throws(SocketError) -> HarnessSocket {
        let fd = try HarnessOwned.register { () throws(SocketError) -> Int32 in
            let fd = socket(family.rawValue, type.rawValue, 0)
            guard fd >= 0 else { throw SocketError(call: "socket") }
            return fd
        }
        return HarnessSocket(fd: fd)
    }

    /// A TCP listener on `host`, port 0 unless told otherwise: the kernel picks a free port.
    /// With `ownsAccepted: false` the connections accepted on it count as the learner's (for a
    /// listener the learner's `accept` is called on).
    /// A `backlog` of 0 lets one connection wait; the next connect then hangs unanswered,
    /// which is how a grader makes a connect time out without leaving loopback.
    public static func listener(
        host: String = "127.0.0.1", port: UInt16 = 0, backlog: Int32 = 64, reuseAddress: Bool = false, ownsAccepted: Bool = true
    ) throws -> HarnessSocket {
        let address: SocketAddress = host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
        let socket = try make(address.family)
        if reuseAddress { try socket.setOption(SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR") }
        try address.withSockAddr { pointer, length in
            guard bind(socket.fd, pointer, length) == 0 else { throw SocketError(call: "bind") }
        }
        guard listen(socket.fd, backlog) == 0 else { throw SocketError(call: "listen") }
        let bound = try Inspect.localAddress(socket.fd)
        if ownsAccepted { HarnessOwned.addListener(bound) }
        return HarnessSocket(adopting: socket, listenerAddress: ownsAccepted ? bound : nil)
    }

    private convenience init(adopting other: HarnessSocket, listenerAddress: SocketAddress?) {
        // Take over the descriptor: the old wrapper must not close it.
        other.state.withLock { other.isClosed = true }
        self.init(fd: other.fd, listenerAddress: listenerAddress)
    }

    /// Connects to `address` (bound to `host` first, when given), waiting at most
    /// `seconds` (see `Inspect.connect`).
    public static func connect(to address: SocketAddress, from host: SocketAddress? = nil, seconds: Double = Deadline.standard) throws -> HarnessSocket {
        let socket = try make(address.family)
        try Inspect.connect(socket.fd, to: address, from: host, seconds: seconds)
        return socket
    }

    /// Accepts one connection, waiting at most `seconds`. nil on timeout.
    public func accept(seconds: Double) throws(SocketError) -> HarnessSocket? {
        guard Inspect.waitReadable(fd, seconds: seconds) else { return nil }
        let connection = SocketKit.accept(fd, nil, nil)
        guard connection >= 0 else { throw SocketError(call: "accept") }
        HarnessOwned.adopt(connection)
        return HarnessSocket(fd: connection)
    }

    /// A UDP socket bound to `host`, port 0.
    public static func udp(host: String = "127.0.0.1") throws -> HarnessSocket {
        let address: SocketAddress = host.contains(":") ? .ipv6(host: host, port: 0) : .ipv4(host: host, port: 0)
        let socket = try make(address.family, .datagram)
        try address.withSockAddr { pointer, length in
            guard bind(socket.fd, pointer, length) == 0 else { throw SocketError(call: "bind") }
        }
        return socket
    }

    /// Sends one datagram to `address`.
    public func sendDatagram(_ bytes: [UInt8], to address: SocketAddress) throws {
        let sent = try address.withSockAddr { pointer, length in
            bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, sendNoSignal, pointer, length) }
        }
        guard sent >= 0 else { throw SocketError(call: "sendto") }
    }

    /// Receives one datagram, waiting at most `seconds`: nil on timeout.
    public func receiveDatagram(limit: Int = 65_536, seconds: Double) throws -> (bytes: [UInt8], sender: SocketAddress)? {
        guard Inspect.waitReadable(fd, seconds: seconds) else { return nil }
        var buffer = [UInt8](repeating: 0, count: limit)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = buffer.withUnsafeMutableBytes { raw in
            withUnsafeMutablePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, raw.baseAddress, raw.count, 0, $0, &length) }
            }
        }
        guard got >= 0 else { throw SocketError(call: "recvfrom") }
        return (Array(buffer.prefix(got)), try SocketAddress(storage: storage, length: length))
    }

    public var localAddress: SocketAddress {
        get throws(SocketError) { try Inspect.localAddress(fd) }
    }

    public func setOption(_ level: Int32, _ name: Int32, _ value: Int32, _ label: String) throws(SocketError) {
        var value = value
        guard setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw SocketError(call: "setsockopt(\(label))")
        }
    }

    /// Writes all of `bytes` (looping over short writes), without SIGPIPE.
    public func sendAll(_ bytes: [UInt8]) throws(SocketError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + offset, raw.count - offset, sendNoSignal)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw SocketError(call: "send")
            }
            offset += written
        }
    }

    /// What is there, up to `limit` bytes, waiting at most `seconds`: nil on timeout, [] at end-of-file.
    public func receive(limit: Int = 65536, seconds: Double) throws(SocketError) -> [UInt8]? {
        try Inspect.receive(fd, limit: limit, seconds: seconds)
    }

    /// Reads until end-of-file or until `seconds` pass. `closed` tells which happened.
    public func receiveUntilClosed(seconds: Double) throws(SocketError) -> (bytes: [UInt8], closed: Bool) {
        let deadline = Clock.now + seconds
        var bytes: [UInt8] = []
        while true {
            guard let chunk = try receive(seconds: max(0, deadline - Clock.now)) else { return (bytes, false) }
            if chunk.isEmpty { return (bytes, true) }
            bytes += chunk
        }
    }

    public func shutdown(_ how: Int32) throws(SocketError) {
        guard LibC.shutdown(fd, how) == 0 else { throw SocketError(call: "shutdown") }
    }

    /// Makes the next `close` abort the connection: the peer sees ECONNRESET, not end-of-file.
    public func resetOnClose() throws(SocketError) {
        var linger = SocketKit.linger(l_onoff: 1, l_linger: 0)
        guard setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<SocketKit.linger>.size)) == 0 else {
            throw SocketError(call: "setsockopt(SO_LINGER)")
        }
    }

    /// Puts a new socket of `family` and `type` at descriptor number `fd`, closing what was
    /// there (a socket the learner's code made and handed back). This is what happens when a
    /// number is reused after a close: an answer that remembers what a number meant, instead
    /// of asking the kernel, now gives the old answer. The harness owns the new socket.
    public static func reusing(_ fd: Int32, for replacement: HarnessSocket) throws(SocketError) -> HarnessSocket {
        let taken = try HarnessOwned.register { () throws(SocketError) -> Int32 in
            guard dup2(replacement.fd, fd) == fd else { throw SocketError(call: "dup2") }
            return fd
        }
        replacement.close()
        return HarnessSocket(fd: taken)
    }

    /// Closes once; later calls do nothing.
    public func close() {
        let first = state.withLock { () -> Bool in
            defer { isClosed = true }
            return !isClosed
        }
        if first { HarnessOwned.close(fd, listener: listenerAddress) }
    }
}
