import GradingHarness
import SocketKit

/// A connected socket handed to the learner's code, with a scripted harness peer at the
/// other end. The socket is the learner's: the census counts it, and the learner's code
/// may close it.
final class LearnerConnection: Sendable {
    let fd: Int32
    let peer: Peer
    private let identity: [UInt64]?

    private init(fd: Int32, peer: Peer) {
        self.fd = fd
        self.peer = peer
        self.identity = Inspect.identity(fd)
    }

    /// The learner's code is the server side: a harness client connects and runs `script`.
    static func fromClient(_ probe: Probe, script: [PeerStep]) throws -> LearnerConnection {
        let listener = try HarnessSocket.listener(ownsAccepted: false)
        defer { listener.close() }
        let peer = try Peer.client("client", connectingTo: listener.localAddress, transcript: probe.transcript, script: script)
        guard Inspect.waitReadable(listener.fd, seconds: Deadline.standard) else { throw SocketError(call: "accept", code: ETIMEDOUT) }
        let fd = accept(listener.fd, nil, nil)
        guard fd >= 0 else { throw SocketError(call: "accept") }
        return LearnerConnection(fd: fd, peer: peer)
    }

    /// The learner's code is the client side: it is connected to a harness server running `script`.
    static func toServer(_ probe: Probe, script: [PeerStep]) throws -> LearnerConnection {
        let (peer, address) = try Peer.server("server", transcript: probe.transcript, script: script)
        let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
        guard fd >= 0 else { throw SocketError(call: "socket") }
        try address.withSockAddr { pointer, length in
            guard connect(fd, pointer, length) == 0 else { throw SocketError(call: "connect") }
        }
        return LearnerConnection(fd: fd, peer: peer)
    }

    /// What unblocks a learner's call waiting on this socket: shutting it down makes a
    /// blocked recv return 0 and a blocked send fail.
    var unblock: @Sendable () -> Void {
        let fd = self.fd
        return { _ = LibC.shutdown(fd, ShutdownHow.both) }
    }

    /// True while the socket the learner was given is still open (not closed by its code).
    var isStillOpen: Bool { identity != nil && Inspect.identity(fd) == identity }

    /// Stops the peer, and closes the learner's socket unless the learner's code already did
    /// (checked by identity: the number may already belong to another file).
    func finish() {
        if isStillOpen { _ = LibC.close(fd) }
        peer.stop()
    }
}
