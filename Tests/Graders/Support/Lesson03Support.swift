import Foundation
import GradingHarness
import SocketKit

/// Inputs and observations for lesson 3's checks (connect and send).
enum Lesson03Support {
    /// A loopback address other than 127.0.0.1, drawn from `random`: all of 127.0.0.0/8 is
    /// loopback on Linux, so a listener can bind it and a client can reach it.
    static func loopbackHost(_ random: SeededGenerator) -> String {
        "127.\(random.int(in: 0...255)).\(random.int(in: 0...255)).\(random.int(in: 2...254))"
    }

    /// A host that no parser takes for an IPv4 address (inet_pton, inet_aton, getaddrinfo
    /// with numeric hosts all refuse it), drawn from `random`.
    static func badIPv4Host(_ random: SeededGenerator) -> String {
        random.pick(["127.0.0.256", "256.0.0.1", "127.0.0.1.7", "127..0.1", "127.0.0.-1", "127.0.0.1x"])
    }

    /// A host that is not an IPv6 address, drawn from `random`.
    static func badIPv6Host(_ random: SeededGenerator) -> String {
        random.pick(["::1::", "1:2:3:4:5:6:7:8:9", "::g", "fe80:::1", "12345::1"])
    }

    /// The calls a sendAll may name when a send fails: send, sendmsg, sendto, write, writev.
    static func isSendCall(_ call: String) -> Bool {
        call.hasPrefix("send") || call.hasPrefix("write")
    }
}

extension Lesson03Support {
    /// True once `server` has accepted a connection, waiting at most `seconds` for it.
    static func accepted(_ server: Peer, within seconds: Double) -> Bool {
        let deadline = Clock.now + seconds
        while Clock.now < deadline {
            if server.localAddress != nil { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return server.localAddress != nil
    }

    /// A descriptor's file status flags (O_NONBLOCK, ...), nil when it is not open.
    static func statusFlags(_ fd: Int32) -> Int32? {
        let flags = fcntl(fd, F_GETFL)
        return flags == -1 ? nil : flags
    }
}

/// How the child process reported the learner's sendAll: one line, see Lesson03Child.
struct ChildSendReport {
    enum Outcome: Equatable {
        case returned
        case threwSocketError(call: String, code: Int32)
        case threwOther(String)
    }

    let outcome: Outcome
    /// What became of the descriptor: "same", "closed" or "replaced".
    let descriptor: String

    /// Reads the child's first line; nil when it is not a report.
    init?(_ line: String) {
        func field(_ name: String) -> String? {
            line.split(separator: " ").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: CharacterSet(charactersIn: ":")) }
        }
        guard let descriptor = field("fd") else { return nil }
        self.descriptor = descriptor
        if line.hasPrefix("returned") {
            outcome = .returned
        } else if line.hasPrefix("threw SocketError "), let call = field("call"), let code = field("code").flatMap({ Int32($0) }) {
            outcome = .threwSocketError(call: call, code: code)
        } else if line.hasPrefix("threw ") {
            outcome = .threwOther(String(line.dropFirst("threw ".count)))
        } else {
            return nil
        }
    }
}

extension Lesson03Support {
    /// Where bytes that should equal `expected` first went wrong, as a hint: a short prefix
    /// (one send, its count ignored), a restart from the beginning, or more bytes than were
    /// given with some of them repeated (each -1 counted as a byte sent moves the loop back).
    static func sendDifferenceHint(expected: [UInt8], actual: [UInt8]) -> Hint {
        let common = min(expected.count, actual.count)
        let firstDifference = expected.withUnsafeBytes { left in
            actual.withUnsafeBytes { right -> Int? in
                let same = common == 0 || memcmp(left.baseAddress!, right.baseAddress!, common) == 0
                if same { return nil }
                for index in 0..<common where left[index] != right[index] { return index }
                return nil
            }
        }
        guard let offset = firstDifference else {
            return actual.count < expected.count ? .sendOnce : .sendOffset
        }
        let window = min(16, expected.count, actual.count - offset)
        let restarted = Array(actual[offset..<(offset + window)]) == Array(expected[0..<window])
        if restarted || actual.count <= expected.count { return .sendOffset }
        return .sendAllMinusOne
    }
}

extension Lesson03Support {
    /// Runs each of `bodies` on a thread of its own, all at once, and waits for every one (each
    /// is bounded by its own deadlines). Then rethrows the first error in the order given, so
    /// the failure reported never depends on which finished first.
    static func runConcurrently(_ bodies: [@Sendable () throws -> Void]) throws {
        let outcomes = Lesson03Outcomes(count: bodies.count)
        let group = DispatchGroup()
        for (index, body) in bodies.enumerated() {
            group.enter()
            Thread {
                outcomes.set(index, Result { try body() })
                group.leave()
            }.start()
        }
        group.wait()
        for outcome in outcomes.all { try outcome?.get() }
    }
}

/// What each concurrent body did, filled in from their threads.
private final class Lesson03Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<Void, any Error>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: Result<Void, any Error>) { lock.withLock { slots[index] = value } }
    var all: [Result<Void, any Error>?] { lock.withLock { slots } }
}
