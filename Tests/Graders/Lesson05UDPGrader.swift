import GradingHarness
import Lesson05
import SocketKit
import XCTest

/// Grades Exercises/Lesson05/Datagrams.swift. Checklist rows 3 and 18 to 21.
final class Lesson05UDPGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(5)
    }

    // A datagram socket, bound where it was asked, over IPv4 and IPv6.
    func test1_openUDPSocketBinds() throws {
        try grade {
            for host in ["127.0.0.1", "::1"] {
                let asked: SocketAddress = host == "::1" ? .ipv6(host: host, port: 0) : .ipv4(host: host, port: 0)
                let probe = Probe("openUDPSocket(boundTo: \(asked)) makes a UDP socket bound to \(host)")
                let fd = try probe.call("openUDPSocket(boundTo:)", returns: { [$0] }) { try openUDPSocket(boundTo: asked) }
                defer { closeIfOpen(fd) }
                guard Inspect.isSocket(fd), try Inspect.type(fd) == .datagram else {
                    throw probe.fail(expected: "a SOCK_DGRAM socket", actual: Inspect.describe(fd), hint: .datagramSocket)
                }
                let local = try Inspect.localAddress(fd)
                guard local.host == host, local.port != 0 else {
                    throw probe.fail(expected: "a socket bound to \(host) (port chosen by the kernel)", actual: "bound to \(local)", hint: .datagramSocket)
                }
            }
        }
    }

    // A datagram reaches the address it was sent to, whole, from the learner's socket.
    func test2_sendDatagramArrives() throws {
        try grade {
            let probe = Probe("sendDatagram(_:_:to:) delivers \"hello, udp\" in one datagram")
            let (receiver, learner) = (try HarnessSocket.udp(), try LearnerUDPSocket())
            defer { learner.close() }
            let target = try receiver.localAddress
            try probe.call("sendDatagram(_:_:to: \(target))") { try sendDatagram(learner.fd, Array("hello, udp".utf8), to: target) }
            guard let (bytes, sender) = try receiver.receiveDatagram(seconds: Deadline.standard) else {
                throw probe.fail(expected: "a datagram at \(target)", actual: "nothing arrived within 2 s", hint: .uncheckedResult("sendto"))
            }
            guard bytes == Array("hello, udp".utf8), sender == learner.address else {
                throw probe.fail(expected: "\"hello, udp\" from \(learner.address)", actual: "\(escaped(bytes)) from \(sender)", hint: nil)
            }
        }
    }

    // Row 21: two datagrams sent back to back come out as two.
    func test3_receiveDatagramKeepsBoundaries() throws {
        try grade {
            let probe = Probe("receiveDatagram(_:maxSize: 1024) returns two datagrams sent back to back as two, each with its sender")
            let (sender, learner) = (try HarnessSocket.udp(), try LearnerUDPSocket())
            defer { learner.close() }
            let log = probe.transcript.open("harness UDP socket \(try sender.localAddress) -> your socket \(learner.address)")
            for text in ["first", "second, a bit longer"] {
                probe.transcript.record(log, .bytes(from: .harness, Array(text.utf8)))
                try sender.sendDatagram(Array(text.utf8), to: learner.address)
            }
            for text in ["first", "second, a bit longer"] {
                let datagram = try probe.call("receiveDatagram(_:maxSize: 1024)", unblock: learner.unblock, blockedHint: .oneDatagram) {
                    try receiveDatagram(learner.fd, maxSize: 1024)
                }
                guard datagram.bytes == Array(text.utf8), !datagram.truncated else {
                    throw probe.fail(expected: "one datagram: \(escaped(Array(text.utf8)))", actual: "\(escaped(datagram.bytes))\(datagram.truncated ? " (marked truncated)" : "")", hint: .oneDatagram)
                }
                guard datagram.sender == (try sender.localAddress) else {
                    throw probe.fail(expected: "sender \(try sender.localAddress)", actual: "sender \(datagram.sender)", hint: .peerAddress)
                }
            }
        }
    }

    // Row 19: a datagram longer than the buffer is cut, and says so.
    func test4_receiveDatagramReportsTruncation() throws {
        try grade {
            let probe = Probe("receiveDatagram(_:maxSize: 16) of a 100-byte datagram returns 16 bytes marked truncated; the next datagram comes whole")
            let (sender, learner) = (try HarnessSocket.udp(), try LearnerUDPSocket())
            defer { learner.close() }
            let long = (0..<100).map { UInt8(ascii: "a") + UInt8($0 % 26) }
            let log = probe.transcript.open("harness UDP socket \(try sender.localAddress) -> your socket \(learner.address)")
            probe.transcript.record(log, .bytes(from: .harness, long))
            try sender.sendDatagram(long, to: learner.address)
            probe.transcript.record(log, .bytes(from: .harness, Array("next".utf8)))
            try sender.sendDatagram(Array("next".utf8), to: learner.address)
            let cut = try probe.call("receiveDatagram(_:maxSize: 16)", unblock: learner.unblock) { try receiveDatagram(learner.fd, maxSize: 16) }
            guard cut.bytes == Array(long.prefix(16)), cut.truncated else {
                throw probe.fail(
                    expected: "the first 16 bytes, truncated: true",
                    actual: "\(cut.bytes.count) bytes \(escaped(cut.bytes)), truncated: \(cut.truncated)",
                    hint: cut.bytes == Array(long.prefix(16)) ? .truncation : .countReturned)
            }
            let next = try probe.call("receiveDatagram(_:maxSize: 16) again", unblock: learner.unblock, blockedHint: .oneDatagram) {
                try receiveDatagram(learner.fd, maxSize: 16)
            }
            guard next.bytes == Array("next".utf8), !next.truncated else {
                throw probe.fail(expected: "the next datagram, \"next\", whole", actual: "\(escaped(next.bytes)), truncated: \(next.truncated)", hint: .oneDatagram)
            }
        }
    }

    // Row 18: each client gets its reply at its own address.
    func test5_serveUDPAnswersEachSender() throws {
        try grade {
            let reply = Array("恭喜您传输成功".utf8)
            let probe = Probe("serveUDP(_:requests: 2, reply:) answers two clients on different ports, each at its own address")
            let learner = try LearnerUDPSocket()
            defer { learner.close() }
            let clients = [try HarnessSocket.udp(), try HarnessSocket.udp()]
            for (number, client) in clients.enumerated() {
                let log = probe.transcript.open("client \(number + 1) \(try client.localAddress) -> your server \(learner.address)")
                probe.transcript.record(log, .bytes(from: .harness, Array("request \(number + 1)".utf8)))
                try client.sendDatagram(Array("request \(number + 1)".utf8), to: learner.address)
            }
            try probe.call("serveUDP(_:requests: 2, reply:)", unblock: learner.unblock, blockedHint: .oneDatagram) {
                try serveUDP(learner.fd, requests: 2, reply: reply)
            }
            for (number, client) in clients.enumerated() {
                let got = try client.receiveDatagram(seconds: 1)
                guard let got, got.bytes == reply else {
                    throw probe.fail(
                        expected: "client \(number + 1) at \(try client.localAddress) to get the reply \(escaped(reply))",
                        actual: got.map { "it got \(escaped($0.bytes))" } ?? "it got nothing within 1 s",
                        hint: .replyToSender)
                }
            }
        }
    }

    // Row 20: a lost request is sent again.
    func test6_requestWithRetrySendsAgainAfterALoss() throws {
        try grade {
            let probe = Probe("requestWithRetry(timeout: 0.3, attempts: 3) gets the reply when the first request is lost")
            let server = try UDPPeer("server", transcript: probe.transcript) { number, _ in number == 1 ? .drop : .reply(Array("pong".utf8)) }
            defer { server.stop() }
            let learner = try LearnerUDPSocket()
            defer { learner.close() }
            let outcome = try probe.attempt("requestWithRetry(_:request:to:timeout: 0.3, attempts: 3)", seconds: 3, unblock: learner.unblock, blockedHint: .boundedRetry) {
                try requestWithRetry(learner.fd, request: Array("ping".utf8), to: server.address, timeout: 0.3, attempts: 3)
            }
            switch outcome {
            case .success(let reply) where reply == Array("pong".utf8):
                return
            case .success(let reply):
                throw probe.fail(expected: "the reply \"pong\"", actual: "it returned \(escaped(reply))", hint: nil)
            case .failure(let error):
                throw probe.fail(expected: "the reply \"pong\" (to the second request)", actual: "it threw \(error) after sending \(server.received.count) request(s)", hint: .retry)
            }
        }
    }

    // Row 20: when nothing ever answers, it gives up after its attempts, in time.
    func test7_requestWithRetryGivesUp() throws {
        try grade {
            let probe = Probe("requestWithRetry(timeout: 0.2, attempts: 3) to a server that never answers throws NoReply after 3 requests, within about 0.6 s")
            let server = try UDPPeer("silent server", transcript: probe.transcript) { _, _ in .drop }
            defer { server.stop() }
            let learner = try LearnerUDPSocket()
            defer { learner.close() }
            let started = Clock.now
            let outcome = try probe.attempt("requestWithRetry(_:request:to:timeout: 0.2, attempts: 3)", seconds: 2, unblock: learner.unblock, blockedHint: .boundedRetry) {
                try requestWithRetry(learner.fd, request: Array("anyone?".utf8), to: server.address, timeout: 0.2, attempts: 3)
            }
            let took = Clock.now - started
            Thread.sleep(forTimeInterval: 0.1)  // let the last request land
            let sent = server.received.count
            guard case .failure(let error) = outcome, error is NoReply else {
                throw probe.fail(expected: "NoReply", actual: "\(outcome)", hint: .retry)
            }
            guard sent == 3 else {
                throw probe.fail(expected: "3 requests", actual: "\(sent) request(s) arrived", hint: sent > 3 ? .boundedRetry : .retry)
            }
            guard took >= 0.5, took < 1.5 else {
                throw probe.fail(expected: "about 0.6 s (3 attempts of 0.2 s)", actual: "\(Int(took * 1000)) ms", hint: .retry)
            }
        }
    }

    // Only the server's datagram is its answer.
    func test8_requestWithRetryIgnoresStrangers() throws {
        try grade {
            let probe = Probe("requestWithRetry ignores a datagram from another port and returns the server's reply")
            let server = try UDPPeer("server", transcript: probe.transcript) { number, _ in
                if number == 1 { return .replyFromOtherPort(Array("not from the server".utf8)) }
                return .reply(Array("pong".utf8))
            }
            defer { server.stop() }
            let learner = try LearnerUDPSocket()
            defer { learner.close() }
            // The stranger answers the first request; the server answers only the second,
            // so a client that waits for the right sender must retry once.
            let reply = try probe.call("requestWithRetry(_:request:to:timeout: 0.3, attempts: 3)", seconds: 3, unblock: learner.unblock, blockedHint: .boundedRetry) {
                try requestWithRetry(learner.fd, request: Array("ping".utf8), to: server.address, timeout: 0.3, attempts: 3)
            }
            guard reply == Array("pong".utf8) else {
                throw probe.fail(expected: "\"pong\" from \(server.address)", actual: "it returned \(escaped(reply))", hint: .replySource)
            }
        }
    }
}

extension Lesson05UDPGrader {
    // Rows 3 and 2: a port in use is an error, and the failed attempt leaves nothing open.
    func test9_openUDPSocketReportsAPortInUse() throws {
        try grade {
            let probe = Probe("openUDPSocket(boundTo:) a port another UDP socket holds throws EADDRINUSE and leaves nothing open")
            let holder = try HarnessSocket.udp()
            let taken = try holder.localAddress
            let outcome = try probe.attempt("openUDPSocket(boundTo: \(taken))", returns: { [$0] }) { try openUDPSocket(boundTo: taken) }
            try expectSocketError(outcome, call: "bind", code: EADDRINUSE, probe: probe, function: "openUDPSocket(boundTo:)")
        }
    }
}

/// A UDP socket on 127.0.0.1 handed to the learner's code (the learner's to use; the
/// grader closes it at the end).
private final class LearnerUDPSocket: @unchecked Sendable {
    let fd: Int32
    let address: SocketAddress

    init() throws {
        let fd = socket(AF_INET, SocketType.datagram.rawValue, 0)
        guard fd >= 0 else { throw SocketError(call: "socket") }
        let bound = try SocketAddress.ipv4(host: "127.0.0.1", port: 0).withSockAddr { bind(fd, $0, $1) }
        guard bound == 0 else {
            let error = SocketError(call: "bind")
            _ = LibC.close(fd)
            throw error
        }
        self.fd = fd
        address = try Inspect.localAddress(fd)
    }

    /// Wakes a recvfrom blocked on it.
    var unblock: @Sendable () -> Void {
        let fd = self.fd
        return { _ = LibC.shutdown(fd, ShutdownHow.both) }
    }

    func close() { closeIfOpen(fd) }
}

extension Hint {
    static let datagramSocket = Hint("datagram-socket", "A UDP socket is socket(family, SocketType.datagram.rawValue, 0), bound with bind to the address you were given. No listen, no accept: datagrams simply arrive.")
    static let oneDatagram = Hint("one-datagram", "UDP keeps message boundaries: one recvfrom returns exactly one datagram. Call it once per datagram; do not loop to fill a buffer as you would on a stream.")
    static let truncation = Hint("truncation", "recvfrom silently cuts a datagram longer than the buffer, and the rest is lost. Ask for maxSize + 1 bytes: if all of them came, the datagram was too long; say so with truncated = true (Linux can also tell you with MSG_TRUNC).")
    static let replyToSender = Hint("reply-to-sender", "Answer each request at the address recvfrom gave you for it. UDP has no connection: the sender's address is the only way back, and every client has its own.")
    static let retry = Hint("retry", "Datagrams get lost and nobody tells you. Wait for the reply for `timeout` seconds (poll), and if none comes, send the request again, up to `attempts` times in all; then throw NoReply.")
    static let boundedRetry = Hint("bounded-retry", "Retry a bounded number of times, each with its timeout, then give up with NoReply: a client that waits or retries forever hangs when the server is down.")
    static let replySource = Hint("reply-source", "Check who a datagram is from: anyone can send to your port. Only a datagram whose sender is the server's address is its reply; ignore the others and keep waiting.")
}
