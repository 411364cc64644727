import Foundation
import SocketKit

/// One thing a scripted peer does, in order. Every wait is bounded.
public enum PeerStep: Sendable {
    /// One `send` of these bytes (looping if the kernel takes only part).
    case send([UInt8])
    /// One byte per `send`, with TCP_NODELAY and `gap` seconds between bytes, so the
    /// other side's `recv` sees them arrive one at a time.
    case drip([UInt8], gap: Double)
    /// Does nothing for a while: a silent peer.
    case pause(Double)
    /// Reads until `count` bytes have come, end-of-file, or `seconds` pass.
    case receive(count: Int, seconds: Double)
    /// Reads until end-of-file or `seconds` pass.
    case receiveUntilClosed(seconds: Double)
    /// Reads slowly until end-of-file or `seconds` pass: at most `chunk` bytes per `recv`,
    /// resting `gap` seconds between reads. With a small receive buffer this keeps the
    /// sender's buffers full, so its `send` calls take only part of what they are given.
    /// The transcript gets one line for it all, not every byte.
    case drain(chunk: Int, gap: Double, seconds: Double)
    /// Sets SO_RCVBUF (the kernel may round it up): a small one makes the sender wait sooner.
    case receiveBuffer(Int32)
    /// `shutdown(SHUT_WR)`: end-of-file for the other side; this side can still read.
    case halfClose
    /// `close`: end-of-file for the other side.
    case close
    /// SO_LINGER 0 and close: the other side gets ECONNRESET.
    case reset
}

/// A scripted loopback peer run by the harness: the learner's code talks to it.
///
/// `Peer.client` connects to the learner's server; `Peer.server` listens for the learner's
/// client. Either way the script runs on a thread of its own and records every byte in
/// both directions in the probe's transcript.
public final class Peer: @unchecked Sendable {
    public let name: String
    private let transcript: Transcript
    private let lock = NSLock()
    private var connection: HarnessSocket?
    private var listener: HarnessSocket?
    private var log: Int?
    private var receivedBytes: [UInt8] = []
    private var sawEndOfFile = false
    private var failure: (any Error)?
    private let finished = DispatchSemaphore(value: 0)

    private init(name: String, transcript: Transcript) {
        self.name = name
        self.transcript = transcript
    }

    /// Connects to `address` now (so the connection is waiting in the learner's backlog when
    /// this returns), then runs `script` in the background.
    public static func client(_ name: String, connectingTo address: SocketAddress, transcript: Transcript, script: [PeerStep]) throws -> Peer {
        let peer = Peer(name: name, transcript: transcript)
        let socket = try HarnessSocket.connect(to: address)
        let local = (try? socket.localAddress).map(String.init(describing:)) ?? "?"
        peer.attach(socket, title: "\(name) \(local) -> your server \(address)")
        peer.start(script)
        return peer
    }

    /// Listens on `host` (127.0.0.1 or ::1), port 0, and returns at once; `address` says
    /// where. The first connection that arrives within `acceptSeconds` gets the script.
    public static func server(
        _ name: String, host: String = "127.0.0.1", transcript: Transcript, acceptSeconds: Double = Deadline.standard,
        script: [PeerStep]
    ) throws -> (peer: Peer, address: SocketAddress) {
        let peer = Peer(name: name, transcript: transcript)
        let listener = try HarnessSocket.listener(host: host)
        let address = try listener.localAddress
        peer.lock.withLock { peer.listener = listener }
        let thread = Thread {
            defer { listener.close() }
            do {
                guard let socket = try listener.accept(seconds: acceptSeconds) else {
                    peer.transcript.record(peer.transcript.open("\(name) \(address): nobody connected"), .note("no connection within \(acceptSeconds) s"))
                    peer.finished.signal()
                    return
                }
                let remote = (try? Inspect.peerAddress(socket.fd)).map(String.init(describing:)) ?? "?"
                peer.attach(socket, title: "your client \(remote) -> \(name) \(address)")
                peer.runScript(script)
            } catch {
                peer.lock.withLock { peer.failure = error }
                peer.finished.signal()
            }
        }
        thread.start()
        return (peer, address)
    }

    private func attach(_ socket: HarnessSocket, title: String) {
        let number = transcript.open(title)
        lock.withLock {
            connection = socket
            log = number
        }
    }

    private func start(_ script: [PeerStep]) {
        Thread { self.runScript(script) }.start()
    }

    private func runScript(_ script: [PeerStep]) {
        defer { finished.signal() }
        guard let socket = lock.withLock({ connection }), let log = lock.withLock({ log }) else { return }
        do {
            for step in script { try perform(step, on: socket, log: log) }
        } catch {
            transcript.record(log, .note("\(name): \(error)"))
            lock.withLock { failure = error }
        }
    }

    private func perform(_ step: PeerStep, on socket: HarnessSocket, log: Int) throws(SocketError) {
        switch step {
        case .send(let bytes):
            transcript.record(log, .bytes(from: .harness, bytes))
            try socket.sendAll(bytes)
        case .drip(let bytes, let gap):
            try socket.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1, "TCP_NODELAY")
            for byte in bytes {
                transcript.record(log, .bytes(from: .harness, [byte]))
                try socket.sendAll([byte])
                Thread.sleep(forTimeInterval: gap)
            }
        case .pause(let seconds):
            Thread.sleep(forTimeInterval: seconds)
        case .receive(let count, let seconds):
            let deadline = Clock.now + seconds
            var got = 0
            while got < count, let chunk = try socket.receive(limit: count - got, seconds: max(0, deadline - Clock.now)) {
                if chunk.isEmpty { noteEndOfFile(log); break }
                record(chunk, log)
                got += chunk.count
            }
        case .receiveUntilClosed(let seconds):
            let deadline = Clock.now + seconds
            while let chunk = try socket.receive(seconds: max(0, deadline - Clock.now)) {
                if chunk.isEmpty { noteEndOfFile(log); break }
                record(chunk, log)
            }
        case .drain(let chunk, let gap, let seconds):
            let deadline = Clock.now + seconds
            var reads = 0
            var bytes: [UInt8] = []
            var endOfFile = false
            defer {
                transcript.record(log, .bulk(from: .learner, bytes: bytes, reads: reads))
                lock.withLock { receivedBytes += bytes }
                if endOfFile { noteEndOfFile(log) }
            }
            while let piece = try socket.receive(limit: chunk, seconds: max(0, deadline - Clock.now)) {
                if piece.isEmpty { endOfFile = true; break }
                bytes += piece
                reads += 1
                Thread.sleep(forTimeInterval: gap)
            }
        case .receiveBuffer(let size):
            try socket.setOption(SOL_SOCKET, SO_RCVBUF, size, "SO_RCVBUF")
        case .halfClose:
            transcript.record(log, .halfClosed(by: .harness))
            try socket.shutdown(ShutdownHow.write)
        case .close:
            transcript.record(log, .closed(by: .harness))
            socket.close()
        case .reset:
            transcript.record(log, .reset(by: .harness))
            try socket.resetOnClose()
            socket.close()
        }
    }

    private func record(_ chunk: [UInt8], _ log: Int) {
        transcript.record(log, .bytes(from: .learner, chunk))
        lock.withLock { receivedBytes += chunk }
    }

    private func noteEndOfFile(_ log: Int) {
        transcript.record(log, .closed(by: .learner))
        lock.withLock { sawEndOfFile = true }
    }

    /// Waits for the script to finish; false if it had not after `seconds`.
    @discardableResult
    public func wait(seconds: Double = Deadline.standard) -> Bool {
        guard finished.wait(timeout: .now() + seconds) == .success else { return false }
        finished.signal()  // finished stays finished: the next wait returns at once too
        return true
    }

    /// What the learner's code sent this peer so far.
    public var received: [UInt8] { lock.withLock { receivedBytes } }
    /// True once this peer read end-of-file from the learner's side.
    public var sawClose: Bool { lock.withLock { sawEndOfFile } }
    /// The system call error that stopped the script, if any.
    public var error: (any Error)? { lock.withLock { failure } }
    /// This peer's own address on its connection, once connected.
    public var localAddress: SocketAddress? { lock.withLock { connection.flatMap { try? $0.localAddress } } }

    /// Adds a note to this peer's connection in the transcript (or on its own line, if no
    /// connection has been made yet).
    public func note(_ text: String) {
        if let log = lock.withLock({ log }) {
            transcript.record(log, .note(text))
        } else {
            transcript.note("\(name): \(text)")
        }
    }

    /// Ends the conversation: wakes a script blocked in a read and closes the socket.
    public func stop() {
        let (socket, listener) = lock.withLock { (connection, self.listener) }
        try? listener?.shutdown(ShutdownHow.both)  // wakes a server still waiting to accept
        try? socket?.shutdown(ShutdownHow.both)
        wait(seconds: 1)
        socket?.close()
    }
}
