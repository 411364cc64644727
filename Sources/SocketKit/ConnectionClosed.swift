/// The peer closed the connection before a whole message had arrived: `recv` returned 0
/// (end-of-file) while more bytes were still expected.
///
/// Not a system call failure, so not a `SocketError`: the connection ended normally, just
/// too soon for what the reader wanted.
public struct ConnectionClosed: Error, Hashable, Sendable, CustomStringConvertible {
    /// What had arrived of the message when the connection closed.
    public let received: [UInt8]

    public init(received: [UInt8]) {
        self.received = received
    }

    public var description: String {
        "the peer closed the connection after \(received.count) bytes of the message"
    }
}
