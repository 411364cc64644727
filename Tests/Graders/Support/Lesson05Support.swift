import Foundation
import GradingHarness
import SocketKit

// Peers and inputs for lesson 5's grader (UDP). Every wait here is bounded.

/// A UDP socket handed to the learner's code (the learner's to use; the grader closes it at
/// the end). Not a harness socket: the leak census sees it, but it exists before and after
/// the learner's call, so it never counts as a leak.
final class LearnerUDPSocket: @unchecked Sendable {
    let fd: Int32
    let address: SocketAddress

    /// Bound to `host`, on a port the kernel picks; with `fixedPort`, on a free port named
    /// in the bind, as a server binds its well-known port (the kernel then keeps that port
    /// even across connect and disconnect).
    init(host: String = "127.0.0.1", fixedPort: Bool = false) throws {
        let fd = socket(host.contains(":") ? AF_INET6 : AF_INET, SocketType.datagram.rawValue, 0)
        guard fd >= 0 else { throw SocketError(call: "socket") }
        var tries = 0
        while true {
            // A free port can be taken by someone else before the bind: try another.
            tries += 1
            let port = fixedPort ? try UDPLoopback.freeUDPPort(host: host) : 0
            let bound = try UDPLoopback.address(host, port: port).withSockAddr { bind(fd, $0, $1) }
            if bound == 0 { break }
            let error = SocketError(call: "bind")
            guard error.code == EADDRINUSE, tries < 5 else {
                _ = LibC.close(fd)
                throw error
            }
        }
        self.fd = fd
        address = try Inspect.localAddress(fd)
        identity = Inspect.identity(fd)
    }

    /// Which open file the descriptor named when it was made.
    private let identity: [UInt64]?

    /// True while the descriptor is still this socket (the learner's code did not close it).
    var isStillOpen: Bool { Inspect.identity(fd) == identity }

    /// Wakes a recvfrom or poll blocked on it (shutdown works on an unconnected UDP socket
    /// on Linux: recvfrom returns 0 with no sender).
    var unblock: @Sendable () -> Void {
        let fd = self.fd
        return { _ = LibC.shutdown(fd, ShutdownHow.both) }
    }

    /// True when connect() was called on it (it has a peer address).
    var isConnected: Bool { (try? Inspect.peerAddress(fd)) != nil }

    /// A datagram waiting on the socket, taken by the grader (nil if none within `seconds`).
    func take(seconds: Double) -> (bytes: [UInt8], sender: SocketAddress)? {
        guard Inspect.waitReadable(fd, seconds: seconds) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = self.fd
        let got = buffer.withUnsafeMutableBytes { raw in
            withUnsafeMutablePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT), $0, &length)
                }
            }
        }
        guard got >= 0, let sender = try? SocketAddress(storage: storage, length: length) else { return nil }
        return (Array(buffer.prefix(got)), sender)
    }

    func close() { closeIfOpen(fd) }
}

enum UDPLoopback {
    /// A loopback IPv4 address other than 127.0.0.1 (all of 127.0.0.0/8 is loopback),
    /// drawn from `random`, and not one of `avoiding`.
    static func ipv4(_ random: SeededGenerator, avoiding: Set<String> = []) -> String {
        while true {
            let host = "127.\(random.int(in: 1...254)).\(random.int(in: 0...255)).\(random.int(in: 1...254))"
            if !avoiding.contains(host) { return host }
        }
    }

    static func address(_ host: String, port: UInt16) -> SocketAddress {
        host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
    }

    /// A UDP port free on `host` right now (bound, read back, closed).
    static func freeUDPPort(host: String) throws -> UInt16 {
        let probe = try HarnessSocket.udp(host: host)
        defer { probe.close() }
        return try probe.localAddress.port ?? 0
    }

    /// A harness UDP socket bound to exactly `address` (nil when that address is taken).
    static func udpSocket(at address: SocketAddress) throws -> HarnessSocket? {
        let socket = try HarnessSocket.make(address.family, .datagram)
        let bound = try address.withSockAddr { bind(socket.fd, $0, $1) }
        guard bound == 0 else {
            socket.close()
            return nil
        }
        return socket
    }
}

/// How a datagram reads in a transcript or a message: short ones in full, long ones by
/// length and first bytes.
func describeDatagram(_ bytes: [UInt8]) -> String {
    bytes.count <= 64 ? "\(bytes.count) bytes \(escaped(bytes))" : "\(bytes.count) bytes starting \(escaped(bytes.prefix(16)))"
}

extension StaleErrno {
    /// Lesson 5's stale codes.
    static let udpCandidates: [Int32] = [EINTR, EAGAIN, EBADF, ECONNREFUSED, EINVAL, ENOTSOCK]
}

/// Runs `body` with an open descriptor that is not a socket: the read end of a pipe with
/// one byte waiting, so that an answer that polls before it reads also reaches its
/// recvfrom (which fails with ENOTSOCK). Both ends are closed afterwards unless the
/// learner's code closed them (then the number is left alone: it may be reused).
func withReadablePipe<T>(_ body: (Int32) throws -> T) throws -> T {
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else { throw SocketError(call: "pipe") }
    _ = write(ends[1], "x", 1)
    let identities = ends.map(Inspect.identity)
    defer {
        for (fd, identity) in zip(ends, identities) where Inspect.identity(fd) == identity {
            _ = LibC.close(fd)
        }
    }
    return try body(ends[0])
}

/// A scripted UDP server: for each datagram that arrives (numbered from 1), `rule` gives
/// the steps to take. It can answer from its own socket or from strangers: sockets at its
/// own address on another port, or at another loopback address on its own port. Every
/// datagram is in the transcript, with the time it arrived.
final class ScriptedUDPServer: @unchecked Sendable {
    enum Step: Sendable {
        /// Answer the sender from the server's own socket.
        case reply([UInt8])
        /// Send these bytes to the sender from stranger number `Int` (an index into `strangers`).
        case stranger(Int, [UInt8])
        /// Wait this many seconds before the next step.
        case pause(Double)
        /// Run this (to start something at the moment a request arrives).
        case run(@Sendable () -> Void)
    }

    /// Where a stranger sits.
    enum Place {
        /// At the server's own address, on another port.
        case otherPort
        /// On the server's own port, at the first of these addresses that is free.
        case samePort(hosts: [String])
    }

    struct Arrival: Sendable {
        let bytes: [UInt8]
        let sender: SocketAddress
        let time: Double
    }

    let address: SocketAddress
    let strangers: [HarnessSocket]
    let strangerAddresses: [SocketAddress]
    private let socket: HarnessSocket
    private let lock = NSLock()
    private var arrivals: [Arrival] = []
    private var strangerTimes: [Double] = []
    private let stopped = DispatchSemaphore(value: 0)

    init(
        _ name: String, host: String, strangers places: [Place] = [], transcript: Transcript,
        rule: @escaping @Sendable (Int, [UInt8]) -> [Step]
    ) throws {
        socket = try HarnessSocket.udp(host: host)
        let address = try socket.localAddress
        self.address = address
        var strangers: [HarnessSocket] = []
        for place in places {
            switch place {
            case .otherPort:
                strangers.append(try HarnessSocket.udp(host: host))
            case .samePort(let hosts):
                var found: HarnessSocket?
                for other in hosts where found == nil {
                    found = try UDPLoopback.udpSocket(at: UDPLoopback.address(other, port: address.port ?? 0))
                }
                guard let found else { throw SocketError(call: "bind (a stranger on port \(address.port ?? 0))", code: EADDRINUSE) }
                strangers.append(found)
            }
        }
        self.strangers = strangers
        strangerAddresses = try strangers.map { try $0.localAddress }
        let log = transcript.open("\(name) (UDP) at \(address)")
        let (socket, strangerAddresses) = (self.socket, self.strangerAddresses)
        let strangerSockets = strangers
        Thread { [self] in
            defer { stopped.signal() }
            // Runs until stop() shuts the socket down: recvfrom then returns no sender, and
            // reading the empty address throws.
            while let (bytes, sender) = try? socket.receiveDatagram(limit: 65_536, seconds: 30) {
                let now = Clock.now
                let number = lock.withLock { () -> Int in
                    arrivals.append(Arrival(bytes: bytes, sender: sender, time: now))
                    return arrivals.count
                }
                transcript.record(log, .note("datagram \(number) from \(sender): \(describeDatagram(bytes))"))
                let steps = rule(number, bytes)
                let answers = steps.contains { if case .reply = $0 { return true } else { return false } }
                if !answers { transcript.record(log, .note("the server did not answer datagram \(number): lost, as a network might lose it")) }
                for step in steps {
                    switch step {
                    case .reply(let answer):
                        transcript.record(log, .note("the server answered \(sender) with \(describeDatagram(answer))"))
                        try? socket.sendDatagram(answer, to: sender)
                    case .stranger(let index, let answer):
                        lock.withLock { strangerTimes.append(Clock.now) }
                        transcript.record(log, .note("a stranger at \(strangerAddresses[index]) sent \(sender) \(describeDatagram(answer))"))
                        try? strangerSockets[index].sendDatagram(answer, to: sender)
                    case .pause(let seconds):
                        Thread.sleep(forTimeInterval: seconds)
                    case .run(let action):
                        action()
                    }
                }
            }
        }.start()
    }

    /// The datagrams received so far, in order, with the time each arrived (Clock.now).
    var received: [Arrival] { lock.withLock { arrivals } }

    /// When the strangers sent their datagrams (Clock.now), in order.
    var strangersSent: [Double] { lock.withLock { strangerTimes } }

    /// Stops the server's thread and closes its sockets.
    func stop() {
        try? socket.shutdown(ShutdownHow.both)
        _ = stopped.wait(timeout: .now() + 2)
        socket.close()
        for stranger in strangers { stranger.close() }
    }
}

/// A stranger that keeps sending small datagrams to `target` every `interval` seconds, from
/// the sockets it is given in turn, once started, until stopped (at most `limit` seconds).
final class Chatter: @unchecked Sendable {
    private let lock = NSLock()
    private var running = true
    private var count = 0
    private let started: DispatchSemaphore
    private let finished = DispatchSemaphore(value: 0)

    /// Starts sending when `gate` is signalled (or `start()` is called).
    init(
        from sockets: [HarnessSocket], to target: SocketAddress, every interval: Double, limit: Double,
        gate: DispatchSemaphore = DispatchSemaphore(value: 0), transcript: Transcript, log: Int
    ) {
        started = gate
        let started = gate
        Thread { [self] in
            defer { finished.signal() }
            guard started.wait(timeout: .now() + limit) == .success else { return }
            let end = Clock.now + limit
            var number = 0
            while lock.withLock({ running }), Clock.now < end {
                let socket = sockets[number % sockets.count]
                number += 1
                let text = Array("chatter \(number)".utf8)
                try? socket.sendDatagram(text, to: target)
                lock.withLock { count = number }
                Thread.sleep(forTimeInterval: interval)
            }
            guard number > 0 else { return }
            let from = sockets.compactMap { try? $0.localAddress }.map(String.init(describing:)).joined(separator: " and ")
            transcript.record(log, .note("strangers at \(from) sent \(number) datagram(s) \"chatter N\" to \(target), one every \(Int(interval * 1000)) ms"))
        }.start()
    }

    func start() { started.signal() }

    /// How many datagrams it has sent.
    var sent: Int { lock.withLock { count } }

    /// Stops it and waits for its thread (once; later calls do nothing).
    func stop() {
        let first = lock.withLock { () -> Bool in
            defer { running = false }
            return running
        }
        guard first else { return }
        started.signal()
        _ = finished.wait(timeout: .now() + 2)
    }
}
