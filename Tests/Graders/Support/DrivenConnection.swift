import Foundation
import GradingHarness
import SocketKit

/// A TCP connection on loopback for a check that drives the harness's end itself (several
/// things at once, with timings): `fd` is the learner's end (a plain descriptor: the census
/// counts it, and the learner's code may close it), `harness` is the grader's end, and every
/// byte the harness sends or reads is written to the probe's transcript. (A connection whose
/// harness end follows a fixed script is a `LearnerConnection`.)
final class DrivenConnection: @unchecked Sendable {
    let fd: Int32
    let harness: HarnessSocket
    /// The learner's end's own address, and its peer's (the harness's end).
    let learnerAddress: SocketAddress
    let harnessAddress: SocketAddress
    let log: Int
    let transcript: Transcript
    private let identity: [UInt64]?
    private let lock = NSLock()
    private var finished = false

    private init(fd: Int32, harness: HarnessSocket, title: String, transcript: Transcript) throws {
        self.fd = fd
        self.harness = harness
        self.learnerAddress = try Inspect.localAddress(fd)
        self.harnessAddress = try harness.localAddress
        self.log = transcript.open(title)
        self.transcript = transcript
        self.identity = Inspect.identity(fd)
    }

    /// An address on `host` (IPv4 or IPv6 by its form), port `port`.
    static func address(_ host: String, _ port: UInt16 = 0) -> SocketAddress {
        host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
    }

    /// The learner's end is the server's: a harness client connects (from `clientHost`, bound
    /// there first when given) to a listener on `host`, and the connection is accepted for
    /// the learner. `name` is how the transcript calls the client.
    static func accepted(_ probe: Probe, name: String = "client", host: String = "127.0.0.1", clientHost: String? = nil) throws -> DrivenConnection {
        let listener = try HarnessSocket.listener(host: host, ownsAccepted: false)
        defer { listener.close() }
        return try accepted(probe, name: name, through: listener, clientHost: clientHost)
    }

    /// The same, through a listener the check made (with options of its own, which the
    /// accepted socket inherits). It must be made with `ownsAccepted: false`.
    static func accepted(_ probe: Probe, name: String = "client", through listener: HarnessSocket, clientHost: String? = nil) throws -> DrivenConnection {
        let address = try listener.localAddress
        let client = try HarnessSocket.connect(to: address, from: clientHost.map { Self.address($0) })
        guard Inspect.waitReadable(listener.fd, seconds: Deadline.standard) else { throw SocketError(call: "accept", code: ETIMEDOUT) }
        let fd = accept(listener.fd, nil, nil)
        guard fd >= 0 else { throw SocketError(call: "accept") }
        let local = (try? client.localAddress).map(String.init(describing:)) ?? "?"
        return try DrivenConnection(fd: fd, harness: client, title: "\(name) \(local) -> your server \(address)", transcript: probe.transcript)
    }

    /// The learner's end is the client's: a socket connected (from `clientHost`, bound there
    /// first when given) to a harness server on `host`. `name` is how the transcript calls
    /// the server.
    static func connected(_ probe: Probe, name: String = "server", host: String = "127.0.0.1", clientHost: String? = nil) throws -> DrivenConnection {
        let listener = try HarnessSocket.listener(host: host)
        defer { listener.close() }
        let address = try listener.localAddress
        let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
        guard fd >= 0 else { throw SocketError(call: "socket") }
        do {
            try Inspect.connect(fd, to: address, from: clientHost.map { Self.address($0) }, seconds: Deadline.standard)
            guard let server = try listener.accept(seconds: Deadline.standard) else { throw SocketError(call: "accept", code: ETIMEDOUT) }
            let local = (try? Inspect.localAddress(fd)).map(String.init(describing:)) ?? "?"
            return try DrivenConnection(fd: fd, harness: server, title: "your client \(local) -> \(name) \(address)", transcript: probe.transcript)
        } catch {
            _ = LibC.close(fd)
            throw error
        }
    }

    /// True while the learner's socket is still open (checked by identity, not by number).
    var isStillOpen: Bool { identity != nil && Inspect.identity(fd) == identity }

    /// What frees a learner's call blocked on this connection: shutting its socket down.
    var unblock: @Sendable () -> Void {
        let fd = self.fd
        let identity = self.identity
        return { if identity != nil && Inspect.identity(fd) == identity { _ = LibC.shutdown(fd, ShutdownHow.both) } }
    }

    // MARK: what the harness end does (each recorded in the transcript)

    /// Sends every byte; the transcript shows more than 256 bytes as their length and digest.
    func send(_ bytes: [UInt8], bulk: Bool? = nil) throws {
        transcript.record(log, bulk ?? (bytes.count > 256) ? .bulk(from: .harness, bytes: bytes, reads: 1) : .bytes(from: .harness, bytes))
        try harness.sendAll(bytes)
    }

    /// Sends `pieces` one write each, resting `gap` seconds between them; pieces over 256
    /// bytes are shown as their length and digest.
    func send(pieces: [[UInt8]], gap: Double) throws {
        for (index, piece) in pieces.enumerated() {
            if index > 0 && gap > 0 { Thread.sleep(forTimeInterval: gap) }
            try send(piece, bulk: piece.count > 256)
        }
    }

    func noDelay() throws {
        try harness.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1, "TCP_NODELAY")
    }

    func halfClose() throws {
        transcript.record(log, .halfClosed(by: .harness))
        try harness.shutdown(ShutdownHow.write)
    }

    func close() {
        transcript.record(log, .closed(by: .harness))
        harness.close()
    }

    func reset() throws {
        transcript.record(log, .reset(by: .harness))
        try harness.resetOnClose()
        harness.close()
    }

    func note(_ text: String) {
        transcript.record(log, .note(text))
    }

    /// Reads what the learner's code sends until end-of-file or `seconds`, recording it.
    func receiveUntilClosed(seconds: Double) -> (bytes: [UInt8], endOfFile: Bool) {
        let deadline = Clock.now + seconds
        var bytes: [UInt8] = []
        var reads = 0
        var endOfFile = false
        while let chunk = try? harness.receive(seconds: max(0, deadline - Clock.now)) {
            if chunk.isEmpty { endOfFile = true; break }
            bytes += chunk
            reads += 1
        }
        if !bytes.isEmpty { transcript.record(log, reads == 1 && bytes.count <= 256 ? .bytes(from: .learner, bytes) : .bulk(from: .learner, bytes: bytes, reads: reads)) }
        if endOfFile { transcript.record(log, .closed(by: .learner)) }
        return (bytes, endOfFile)
    }

    /// The bytes still waiting in the learner's socket (not taken by its code), read without
    /// waiting and without taking them.
    func unread(limit: Int) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max(1, limit))
        let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
        return got > 0 ? Array(buffer.prefix(got)) : []
    }

    /// Closes the harness end and, unless the learner's code already did, the learner's.
    func finish() {
        let first = lock.withLock { () -> Bool in
            defer { finished = true }
            return !finished
        }
        guard first else { return }
        if isStillOpen { _ = LibC.close(fd) }
        harness.close()
    }
}
