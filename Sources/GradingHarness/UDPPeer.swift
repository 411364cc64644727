import Foundation
import SocketKit

/// What a UDP peer does with one datagram it received.
public enum UDPAction: Sendable {
    /// Nothing: the datagram is "lost".
    case drop
    /// Answers the sender with these bytes.
    case reply([UInt8])
    /// Answers the sender with these bytes, from a different port than the one the
    /// request was sent to: a stranger, as far as the learner's client should care.
    case replyFromOtherPort([UInt8])
}

/// A scripted UDP server run by the harness: for each datagram that arrives, `rule` (given
/// the datagram's number, from 1, and its bytes) says what to do. Every datagram in either
/// direction goes into the transcript.
public final class UDPPeer: @unchecked Sendable {
    public let address: SocketAddress
    private let socket: HarnessSocket
    private let stranger: HarnessSocket
    private let lock = NSLock()
    private var requests: [(bytes: [UInt8], sender: SocketAddress)] = []
    private let stopped = DispatchSemaphore(value: 0)

    public init(_ name: String, transcript: Transcript, rule: @escaping @Sendable (Int, [UInt8]) -> UDPAction) throws {
        socket = try HarnessSocket.udp()
        stranger = try HarnessSocket.udp()
        address = try socket.localAddress
        let log = transcript.open("\(name) (UDP) at \(address)")
        let (socket, stranger) = (self.socket, self.stranger)
        Thread { [self] in
            defer { stopped.signal() }
            // Runs until stop() shuts the socket down: recvfrom then returns no sender, and
            // reading the empty address throws.
            while let (bytes, sender) = try? socket.receiveDatagram(seconds: 30) {
                let number = lock.withLock { () -> Int in
                    requests.append((bytes, sender))
                    return requests.count
                }
                transcript.record(log, .note("datagram \(number) from your socket \(sender): \(bytes.count) bytes \(escaped(bytes))"))
                switch rule(number, bytes) {
                case .drop:
                    transcript.record(log, .note("the harness dropped datagram \(number), as a network might"))
                case .reply(let answer):
                    transcript.record(log, .note("the harness answered \(sender) with \(answer.count) bytes \(escaped(answer))"))
                    try? socket.sendDatagram(answer, to: sender)
                case .replyFromOtherPort(let answer):
                    let other = (try? stranger.localAddress).map(String.init(describing:)) ?? "?"
                    transcript.record(log, .note("a stranger at \(other) sent \(sender) \(answer.count) bytes \(escaped(answer))"))
                    try? stranger.sendDatagram(answer, to: sender)
                }
            }
        }.start()
    }

    /// The datagrams received so far, in order.
    public var received: [(bytes: [UInt8], sender: SocketAddress)] { lock.withLock { requests } }

    /// Stops the server's thread and closes its sockets.
    public func stop() {
        try? socket.shutdown(ShutdownHow.both)
        _ = stopped.wait(timeout: .now() + 2)
        socket.close()
        stranger.close()
    }
}
