import Foundation
import SocketKit

/// Who did something on a connection.
public enum Party: String, Sendable {
    case harness = "harness"
    case learner = "your code"
}

/// One thing that happened on one connection, in order.
public enum WireEvent: Sendable, Equatable {
    /// `from` wrote these bytes (as one `send` call).
    case bytes(from: Party, [UInt8])
    /// `from` wrote a large amount: shown as its length, digest and first bytes.
    case bulk(from: Party, bytes: [UInt8], reads: Int)
    /// `by` closed its end: the other side reads end-of-file.
    case closed(by: Party)
    /// `by` shut down its writing half (`shutdown(SHUT_WR)`): end-of-file, yet it can still read.
    case halfClosed(by: Party)
    /// `by` aborted the connection (SO_LINGER 0): the other side gets ECONNRESET.
    case reset(by: Party)
    /// Anything else worth saying: "harness waited 200 ms", "read end-of-file".
    case note(String)
}

/// What crossed the wire during one check, per connection, both directions.
///
/// Peers running on other threads record into it; the failure message prints it.
public final class Transcript: @unchecked Sendable {
    private let lock = NSLock()
    private var connections: [(title: String, events: [WireEvent])] = []

    public init() {}

    /// Starts a new connection's log ("client 1: 127.0.0.1:50122 -> 127.0.0.1:40211")
    /// and returns its number for `record`.
    public func open(_ title: String) -> Int {
        lock.withLock {
            connections.append((title, []))
            return connections.count - 1
        }
    }

    /// Records `event` on connection `connection` (a number `open` returned). A number no
    /// connection has is not a trap: the event goes on a line of its own.
    public func record(_ connection: Int, _ event: WireEvent) {
        lock.withLock {
            if connections.indices.contains(connection) {
                connections[connection].events.append(event)
            } else {
                connections.append(("(harness)", [event]))
            }
        }
    }

    /// A note from the harness that belongs to no connection in particular.
    public func note(_ text: String) {
        lock.withLock { connections.append(("(harness)", [.note(text)])) }
    }

    public var isEmpty: Bool { lock.withLock { connections.isEmpty } }

    /// The transcript as the failure message shows it, indented by `indent`.
    public func rendered(indent: String = "  ") -> String {
        let connections = lock.withLock { self.connections }
        guard !connections.isEmpty else { return indent + "(nothing was recorded on the wire)" }
        var lines: [String] = []
        for (number, connection) in connections.enumerated() {
            lines.append("\(indent)connection \(number + 1): \(connection.title)")
            if connection.events.isEmpty { lines.append("\(indent)  (nothing was sent)") }
            for (events, repeats) in Self.folded(connection.events) {
                lines.append(contentsOf: events.map { indent + "  " + Self.line(for: $0) })
                if repeats > 0 {
                    lines.append(indent + "  " + "(the same \(events.count == 1 ? "line" : "\(events.count) lines"), \(repeats) more time\(repeats == 1 ? "" : "s"))")
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The events with runs of a repeated pattern (up to 4 events long, seen 3 times or more)
    /// folded into one pattern and a count: eight identical request/reply rounds read as one
    /// round and "the same 2 lines, 7 more times".
    static func folded(_ events: [WireEvent]) -> [(events: ArraySlice<WireEvent>, repeats: Int)] {
        var result: [(ArraySlice<WireEvent>, Int)] = []
        var index = 0
        while index < events.count {
            var best: (period: Int, repeats: Int) = (1, 0)
            for period in 1...4 where index + 2 * period <= events.count {
                let pattern = events[index..<index + period]
                var repeats = 0
                while index + (repeats + 2) * period <= events.count,
                      events[(index + (repeats + 1) * period)..<(index + (repeats + 2) * period)].elementsEqual(pattern) {
                    repeats += 1
                }
                if repeats >= 2 && repeats * period > best.repeats * best.period { best = (period, repeats) }
            }
            result.append((events[index..<index + best.period], best.repeats))
            index += best.period * (best.repeats + 1)
        }
        return result
    }

    private static func line(for event: WireEvent) -> String {
        switch event {
        case .bytes(let from, let bytes):
            let to: Party = from == .harness ? .learner : .harness
            return "\(from.rawValue) -> \(to.rawValue): \(bytes.count) bytes \(escaped(bytes))"
        case .bulk(let from, let bytes, let reads):
            let to: Party = from == .harness ? .learner : .harness
            return "\(from.rawValue) -> \(to.rawValue): \(bytes.count) bytes in all (read in \(reads) pieces), digest \(digest(bytes)), starting \(escaped(bytes.prefix(24)))"
        case .closed(.learner): return "your side closed (the harness read end-of-file)"
        case .closed(let party): return "\(party.rawValue) closed the connection"
        case .halfClosed(let party): return "\(party.rawValue) shut down its sending side (SHUT_WR)"
        case .reset(let party): return "\(party.rawValue) reset the connection (RST)"
        case .note(let text): return "(\(text))"
        }
    }
}
