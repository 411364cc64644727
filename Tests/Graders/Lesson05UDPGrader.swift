import Foundation
import GradingHarness
import Lesson05
import SocketKit
import XCTest

/// Grades Exercises/Lesson05/Datagrams.swift. Checklist rows 2, 3 and 18 to 21.
///
/// Addresses come from all of 127.0.0.0/8 and ::1; sizes run from 0 bytes to the largest
/// datagram; every timeout is a fraction of a second, bounded below as well as above; and
/// what the other side sees (a reply's source, a second request's timing, a stranger
/// ignored) counts, not only what the learner's function returns. Error paths come last:
/// an answer that ignores a -1 may trap there, and a trap ends the run.
final class Lesson05UDPGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(5)
    }

    // A datagram socket, bound exactly where it was asked: any 127.x.y.z with a given
    // port, and ::1 with a port the kernel chooses. Read back from the kernel.
    func test1_openUDPSocketBindsTheAddressGiven() throws {
        try grade {
            let seeds = Probe("openUDPSocket(boundTo:) binds exactly the address it was given")
            let host = UDPLoopback.ipv4(seeds.random)
            let asked: [SocketAddress] = [.ipv4(host: host, port: try UDPLoopback.freeUDPPort(host: host)), .ipv6(host: "::1", port: 0)]
            for address in asked {
                let wanted = address.port == 0 ? "\(address.host ?? "?") (port chosen by the kernel)" : "\(address)"
                let probe = Probe("openUDPSocket(boundTo: \(address)) makes a UDP socket bound to \(wanted)")
                let stale = StaleErrno(probe.random, from: StaleErrno.udpCandidates)
                let fd = try probe.call(
                    "openUDPSocket(boundTo: \(address))", returns: { [$0] }, blockedHint: .datagramSocket,
                    errorHint: { error in
                        if stale.explains(error) { return .udpErrnoCheck }
                        if let call = (error as? SocketError)?.call, call.hasPrefix("listen") || call.hasPrefix("accept") { return .datagramSocket }
                        let code = (error as? SocketError)?.code
                        if address.family == .inet6, code == EAFNOSUPPORT || code == EINVAL { return .udpSocketFamily }
                        return .udpBindAddress
                    }
                ) {
                    stale.plant()
                    return try openUDPSocket(boundTo: address)
                }
                defer { closeIfOpen(fd) }
                guard Inspect.isSocket(fd) else {
                    throw probe.fail(expected: "a UDP socket's descriptor", actual: "it returned \(Inspect.describe(fd))", hint: .returnTheDescriptor)
                }
                guard try Inspect.type(fd) == .datagram else {
                    throw probe.fail(expected: "a SOCK_DGRAM socket", actual: "it returned \(Inspect.describe(fd))", hint: .datagramSocket)
                }
                guard try Inspect.family(fd) == address.family else {
                    throw probe.fail(expected: "a socket of family \(address.family)", actual: "it returned \(Inspect.describe(fd))", hint: .udpSocketFamily)
                }
                let local = try Inspect.localAddress(fd)
                let rightHost = local.host == address.host
                let rightPort = address.port == 0 ? local.port != 0 : local.port == address.port
                guard rightHost, rightPort else {
                    let wildcard = local.host == "0.0.0.0" || local.host == "::"
                    let hint: Hint
                    if address.port != 0, local.port == address.port?.byteSwapped {
                        hint = .byteOrder
                    } else if wildcard && local.port != 0 {
                        hint = .anyAddress
                    } else {
                        hint = .udpBindAddress
                    }
                    throw probe.fail(expected: "a UDP socket bound to \(wanted)", actual: "it returned \(Inspect.describe(fd))", hint: hint)
                }
            }
        }
    }

    // Each payload goes as one whole datagram, from the socket it was given, whatever its
    // size (0, 1, a few hundred, about 60,000 bytes) and family; and sending does not
    // connect the socket (it still hears from everyone).
    func test2_sendDatagramSendsEachAsOneDatagram() throws {
        try grade {
            let probe = Probe("sendDatagram(_:_:to:) sends each payload (1 byte, a few hundred, about 60,000, 0 bytes) as one whole datagram from the socket it was given, to 127.x.y.z and to ::1")
            let learnerHost = UDPLoopback.ipv4(probe.random)
            let receiverHost = UDPLoopback.ipv4(probe.random, avoiding: [learnerHost])
            let strangerHost = UDPLoopback.ipv4(probe.random, avoiding: [learnerHost, receiverHost])
            let learner = try LearnerUDPSocket(host: learnerHost)
            defer { learner.close() }
            let learner6 = try LearnerUDPSocket(host: "::1")
            defer { learner6.close() }
            let receiver = try HarnessSocket.udp(host: receiverHost)
            let receiver6 = try HarnessSocket.udp(host: "::1")
            // The empty one last: a stale errno mistaken for a failure shows on the others first.
            let sizes = [1, probe.random.int(in: 2...1_472), probe.random.int(in: 60_000...65_507), 0]
            let cases = sizes.map { (learner, receiver, $0) } + [(learner6, receiver6, probe.random.int(in: 1_025...9_000))]
            for (from, to, size) in cases {
                let payload = probe.random.bytes(size)
                let target = try to.localAddress
                let log = probe.transcript.open("your socket \(from.address) -> harness UDP socket \(target)")
                probe.transcript.record(log, .note("your code was asked to send \(describeDatagram(payload))"))
                let stale = StaleErrno(probe.random, from: StaleErrno.udpCandidates)
                try probe.call(
                    "sendDatagram(_:_: \(size) bytes, to: \(target))", blockedHint: .udpSendDatagram,
                    errorHint: { error in
                        if !from.isStillOpen { return .udpCallersSocket }
                        if size == 0 { return .udpEmptyDatagram }
                        if stale.explains(error) { return .udpErrnoCheck }
                        if (error as? SocketError)?.code == EDESTADDRREQ { return .udpSendtoAddress }
                        return .udpSendDatagram
                    }
                ) {
                    stale.plant()
                    try sendDatagram(from.fd, payload, to: target)
                }
                let pieces = try Self.drain(to, first: 1.0, log: log, transcript: probe.transcript)
                guard let first = pieces.first else {
                    throw probe.fail(
                        expected: "one datagram of \(size) bytes at \(target)", actual: "nothing arrived within 1 s",
                        hint: size == 0 ? .udpEmptyDatagram : .uncheckedResult("sendto"))
                }
                guard pieces.count == 1, first.bytes == payload else {
                    let sizes = pieces.map { "\($0.bytes.count)" }.joined(separator: " + ")
                    throw probe.fail(
                        expected: "one datagram of \(size) bytes: \(describeDatagram(payload))",
                        actual: "\(pieces.count) datagram(s) arrived (\(sizes) bytes), the first \(describeDatagram(first.bytes))",
                        hint: pieces.count > 1 || (first.bytes.count < size && payload.starts(with: first.bytes)) ? .udpSendWhole : .udpSendBytes)
                }
                guard first.sender == from.address else {
                    throw probe.fail(
                        expected: "the datagram to come from the socket it was given, \(from.address)",
                        actual: "it came from \(first.sender)", hint: .udpSendSocket)
                }
            }
            try Self.expectStillOpen(learner, probe: probe, after: "sendDatagram")
            // Sending must not have connected the socket: a stranger can still reach it.
            let stranger = try HarnessSocket.udp(host: strangerHost)
            let hello = Array("still listening?".utf8)
            let log = probe.transcript.open("a stranger \(try stranger.localAddress) -> your socket \(learner.address), after your sends")
            probe.transcript.record(log, .bytes(from: .harness, hello))
            try stranger.sendDatagram(hello, to: learner.address)
            guard let heard = learner.take(seconds: 1), heard.bytes == hello else {
                throw probe.fail(
                    expected: "your socket, after sendDatagram, still receives a datagram from another address",
                    actual: "it never arrived" + (learner.isConnected ? ": the socket is connected to \((try? Inspect.peerAddress(learner.fd)).map(String.init(describing:)) ?? "?")" : ""),
                    hint: .udpStaysUnconnected)
            }
        }
    }

    // A datagram too large for UDP fails whole, with EMSGSIZE, over IPv4 and IPv6.
    func test3_sendDatagramRefusesATooLargeDatagram() throws {
        try grade {
            let probe = Probe("sendDatagram(_:_:to:) of more than one datagram can carry (over 65,507 bytes over IPv4, over 65,527 over IPv6) throws EMSGSIZE and sends nothing")
            let host = UDPLoopback.ipv4(probe.random)
            for (host, size) in [(host, probe.random.int(in: 65_508...70_000)), ("::1", probe.random.int(in: 65_528...70_000))] {
                let learner = try LearnerUDPSocket(host: host)
                defer { learner.close() }
                let receiver = try HarnessSocket.udp(host: host)
                let target = try receiver.localAddress
                let log = probe.transcript.open("your socket \(learner.address) -> harness UDP socket \(target)")
                probe.transcript.record(log, .note("your code was asked to send \(size) bytes"))
                let payload = probe.random.bytes(size)
                let outcome = try probe.attempt("sendDatagram(_:_: \(size) bytes, to: \(target))", blockedHint: .udpSendWhole) {
                    try sendDatagram(learner.fd, payload, to: target)
                }
                let pieces = try Self.drain(receiver, first: 0.02, log: log, transcript: probe.transcript)
                guard pieces.isEmpty else {
                    throw probe.fail(
                        expected: "sendDatagram to throw EMSGSIZE and send nothing (\(size) bytes cannot be one datagram)",
                        actual: "\(pieces.count) datagram(s) arrived (\(pieces.map { "\($0.bytes.count)" }.joined(separator: " + ")) bytes); " + Self.outcomeText(outcome),
                        hint: .udpSendWhole)
                }
                try expectSocketError(
                    outcome, call: nil, code: EMSGSIZE, probe: probe, function: "sendDatagram(_:_: \(size) bytes, to:)",
                    returnedHint: { _ in .uncheckedResult("sendto") })
            }
        }
    }

    // Row 21: two datagrams sent back to back come out as two.
    func test4_receiveDatagramKeepsBoundaries() throws {
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
                let stale = StaleErrno(probe.random, from: StaleErrno.udpCandidates)
                let datagram = try probe.call(
                    "receiveDatagram(_:maxSize: 1024)", unblock: learner.unblock, blockedHint: .oneDatagram,
                    errorHint: { Self.receiveErrorHint($0, stale: stale) ?? .oneDatagram }
                ) {
                    stale.plant()
                    return try receiveDatagram(learner.fd, maxSize: 1024)
                }
                guard datagram.bytes == Array(text.utf8), !datagram.truncated else {
                    throw probe.fail(expected: "one datagram: \(escaped(Array(text.utf8)))", actual: "\(escaped(datagram.bytes))\(datagram.truncated ? " (marked truncated)" : "")", hint: .oneDatagram)
                }
                guard datagram.sender == (try sender.localAddress) else {
                    throw probe.fail(expected: "sender \(try sender.localAddress)", actual: "sender \(datagram.sender)", hint: .udpSenderAddress)
                }
            }
            // Nothing is waiting now: the next call waits for the datagram that comes later.
            let later = Array("third, a little later".utf8)
            let delay = Double(probe.random.int(in: 60...100)) / 1000
            let (transcript, target) = (probe.transcript, learner.address)
            Thread {
                Thread.sleep(forTimeInterval: delay)
                transcript.record(log, .note("harness, \(Int(delay * 1000)) ms later -> your code: \(describeDatagram(later))"))
                try? sender.sendDatagram(later, to: target)
            }.start()
            let measured = try probe.measure(
                "receiveDatagram(_:maxSize: 1024) with nothing waiting yet", unblock: learner.unblock, blockedHint: .oneDatagram,
                spinningHint: .udpBusyWait
            ) {
                try receiveDatagram(learner.fd, maxSize: 1024)
            }
            switch measured.result {
            case .failure(let error):
                throw probe.fail(
                    expected: "receiveDatagram to wait for the datagram sent \(Int(delay * 1000)) ms later",
                    actual: "it threw \(error) after \(Self.ms(measured.seconds))",
                    hint: Self.receiveErrorHint(error, stale: nil) ?? .udpReceiveWaits)
            case .success(let datagram) where datagram.bytes != later:
                throw probe.fail(expected: "\(escaped(later)), sent \(Int(delay * 1000)) ms later", actual: "\(escaped(datagram.bytes)) after \(Self.ms(measured.seconds))", hint: .udpReceiveWaits)
            case .success:
                break
            }
            guard measured.cpuSeconds <= max(0.015, 0.1 * measured.seconds) else {
                throw probe.fail(
                    expected: "receiveDatagram to sleep in recvfrom (or poll) until the datagram came",
                    actual: "its thread used \(Self.ms(measured.cpuSeconds)) of processor time in \(Self.ms(measured.seconds)) of waiting",
                    hint: .udpBusyWait)
            }
            try Self.expectStillOpen(learner, probe: probe, after: "receiveDatagram")
        }
    }

    // Row 19: a datagram longer than the buffer is cut, and says so.
    func test5_receiveDatagramReportsTruncation() throws {
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
            let cut = try probe.call("receiveDatagram(_:maxSize: 16)", unblock: learner.unblock, blockedHint: .oneDatagram, errorHint: { _ in .truncation }) {
                try receiveDatagram(learner.fd, maxSize: 16)
            }
            guard cut.bytes == Array(long.prefix(16)), cut.truncated else {
                throw probe.fail(
                    expected: "the first 16 bytes, truncated: true",
                    actual: "\(cut.bytes.count) bytes \(escaped(cut.bytes)), truncated: \(cut.truncated)",
                    hint: cut.bytes == Array(long.prefix(16)) ? .truncation : .countReturned)
            }
            let next = try probe.call("receiveDatagram(_:maxSize: 16) again", unblock: learner.unblock, blockedHint: .oneDatagram, errorHint: { _ in .oneDatagram }) {
                try receiveDatagram(learner.fd, maxSize: 16)
            }
            guard next.bytes == Array("next".utf8), !next.truncated else {
                throw probe.fail(expected: "the next datagram, \"next\", whole", actual: "\(escaped(next.bytes)), truncated: \(next.truncated)", hint: .oneDatagram)
            }
        }
    }

    // The edges of maxSize: exactly maxSize fits, maxSize + 1 is cut, 0 bytes is a
    // datagram (not end-of-file), and the largest datagram comes whole.
    func test6_receiveDatagramHandlesEverySize() throws {
        try grade {
            let probe = Probe("receiveDatagram(_:maxSize:) returns a datagram of exactly maxSize whole (not truncated), cuts maxSize + 1 to maxSize (truncated), returns a 0-byte datagram as empty, and a datagram of about 60,000 bytes whole")
            let sender = try HarnessSocket.udp(host: UDPLoopback.ipv4(probe.random))
            let learner = try LearnerUDPSocket()
            defer { learner.close() }
            let log = probe.transcript.open("harness UDP socket \(try sender.localAddress) -> your socket \(learner.address)")
            let size = probe.random.int(in: 1_025...9_000)
            let one = probe.random.bytes(1)
            let large = probe.random.int(in: 60_000...65_507)
            // (bytes sent, maxSize, truncated expected); the bytes expected are the first maxSize sent
            let cases: [([UInt8], Int, Bool)] = [
                (probe.random.bytes(size), size, false),
                (probe.random.bytes(size + 1), size, true),
                ([], size, false),
                (one, 1, false),
                (probe.random.bytes(2), 1, true),
                (probe.random.bytes(large), 65_507, false),
            ]
            for (sent, maxSize, cut) in cases {
                probe.transcript.record(log, .note("harness -> your code: \(describeDatagram(sent))"))
                try sender.sendDatagram(sent, to: learner.address)
                let expected = Array(sent.prefix(maxSize))
                let stale = StaleErrno(probe.random, from: StaleErrno.udpCandidates)
                let datagram = try probe.call(
                    "receiveDatagram(_:maxSize: \(maxSize)) of a \(sent.count)-byte datagram", unblock: learner.unblock,
                    blockedHint: sent.isEmpty ? .udpEmptyDatagram : .oneDatagram,
                    errorHint: { error in
                        if sent.isEmpty { return .udpEmptyDatagram }
                        return Self.receiveErrorHint(error, stale: stale) ?? .udpReceiveOne
                    }
                ) {
                    stale.plant()
                    return try receiveDatagram(learner.fd, maxSize: maxSize)
                }
                guard datagram.bytes == expected, datagram.truncated == cut else {
                    let hint: Hint
                    if datagram.bytes == expected {
                        hint = cut ? .truncation : .udpExactFit
                    } else if datagram.bytes.count > expected.count, datagram.bytes.starts(with: expected) {
                        hint = .countReturned
                    } else if datagram.bytes.count < expected.count, expected.starts(with: datagram.bytes) {
                        hint = .udpBufferSize
                    } else {
                        hint = .countReturned
                    }
                    throw probe.fail(
                        expected: "\(describeDatagram(expected)), truncated: \(cut)",
                        actual: "\(describeDatagram(datagram.bytes)), truncated: \(datagram.truncated)", hint: hint)
                }
                guard datagram.sender == (try sender.localAddress) else {
                    throw probe.fail(expected: "sender \(try sender.localAddress)", actual: "sender \(datagram.sender)", hint: .udpSenderAddress)
                }
            }
        }
    }

    // The sender exactly: family, address and port, from 127.x.y.z and from ::1.
    func test7_receiveDatagramNamesTheSender() throws {
        try grade {
            let probe = Probe("receiveDatagram(_:maxSize:) names each datagram's sender exactly (family, address, port), for senders at 127.x.y.z addresses and at ::1")
            let learnerHost = UDPLoopback.ipv4(probe.random)
            let hostA = UDPLoopback.ipv4(probe.random, avoiding: [learnerHost])
            let hostB = UDPLoopback.ipv4(probe.random, avoiding: [learnerHost, hostA])
            let learner = try LearnerUDPSocket(host: learnerHost)
            defer { learner.close() }
            let learner6 = try LearnerUDPSocket(host: "::1")
            defer { learner6.close() }
            let cases = [(learner, try HarnessSocket.udp(host: hostA)), (learner, try HarnessSocket.udp(host: hostB)), (learner6, try HarnessSocket.udp(host: "::1"))]
            for (number, (to, sender)) in cases.enumerated() {
                let from = try sender.localAddress
                let text = Array("who sent me? (\(number + 1))".utf8)
                let log = probe.transcript.open("harness UDP socket \(from) -> your socket \(to.address)")
                probe.transcript.record(log, .bytes(from: .harness, text))
                try sender.sendDatagram(text, to: to.address)
                let stale = StaleErrno(probe.random, from: StaleErrno.udpCandidates)
                let datagram = try probe.call(
                    "receiveDatagram(_:maxSize: 512) of a datagram from \(from)", unblock: to.unblock, blockedHint: .oneDatagram,
                    errorHint: { error in Self.receiveErrorHint(error, stale: stale) ?? .udpSenderAddress }
                ) {
                    stale.plant()
                    return try receiveDatagram(to.fd, maxSize: 512)
                }
                guard datagram.bytes == text, !datagram.truncated else {
                    throw probe.fail(expected: "\(escaped(text))", actual: "\(escaped(datagram.bytes)), truncated: \(datagram.truncated)", hint: .oneDatagram)
                }
                guard datagram.sender == from else {
                    throw probe.fail(expected: "sender \(from) (\(from.family))", actual: "sender \(datagram.sender) (\(datagram.sender.family))", hint: .udpSenderAddress)
                }
            }
        }
    }

    // Row 18, and what the clients see: three clients at three addresses, one request
    // empty, one sent only after the first reply came back; each gets the whole reply
    // (over 1,024 bytes) at its own address, from the server's own address and port.
    func test8_serveUDPAnswersEachClientFromItsOwnSocket() throws {
        try grade {
            let probe = Probe("serveUDP(_:requests: 3, reply:) answers three clients at three addresses (one sends an empty datagram, one arrives only after the first reply) with the whole reply, each at its own address, from the server's own address and port")
            let serverHost = UDPLoopback.ipv4(probe.random)
            let hostB = UDPLoopback.ipv4(probe.random, avoiding: [serverHost])
            let hostC = UDPLoopback.ipv4(probe.random, avoiding: [serverHost, hostB])
            let learner = try LearnerUDPSocket(host: serverHost, fixedPort: true)
            defer { learner.close() }
            let clients = [try HarnessSocket.udp(host: "127.0.0.1"), try HarnessSocket.udp(host: hostB), try HarnessSocket.udp(host: hostC)]
            let requests = [probe.random.bytes(probe.random.int(in: 1...200)), [], probe.random.bytes(probe.random.int(in: 1...200))]
            let reply = probe.random.bytes(probe.random.int(in: 1_025...30_000))
            try serveAndJudge(probe, learner: learner, clients: clients, requests: requests, lateClient: 2, reply: reply)
        }
    }

    // The same over IPv6.
    func test9_serveUDPAnswersOverIPv6() throws {
        try grade {
            let probe = Probe("serveUDP(_:requests: 2, reply:) on a socket bound to ::1 answers two clients on ::1, each at its own port, from the server's own port")
            let learner = try LearnerUDPSocket(host: "::1", fixedPort: true)
            defer { learner.close() }
            let clients = [try HarnessSocket.udp(host: "::1"), try HarnessSocket.udp(host: "::1")]
            let requests = [probe.random.bytes(probe.random.int(in: 1...100)), probe.random.bytes(probe.random.int(in: 1...100))]
            let reply = probe.random.bytes(probe.random.int(in: 1_025...9_000))
            try serveAndJudge(probe, learner: learner, clients: clients, requests: requests, lateClient: nil, reply: reply)
        }
    }

    // A prompt reply returns promptly (bounded below and above), whole although longer
    // than 1,024 bytes, after one request, over IPv4 (127.x.y.z) and IPv6.
    func test9a_requestWithRetryReturnsAPromptReplyPromptly() throws {
        try grade {
            let probe = Probe("requestWithRetry returns the server's prompt reply (over 1,024 bytes, or empty) whole, as soon as it arrives, after sending once from the socket it was given, from a server at 127.x.y.z and at ::1")
            let serverHost = UDPLoopback.ipv4(probe.random)
            let learnerHost = UDPLoopback.ipv4(probe.random, avoiding: [serverHost])
            let cases = [
                (serverHost, "127.0.0.1", probe.random.int(in: 1_025...65_507)),
                ("::1", "::1", probe.random.int(in: 1_025...65_507)),
                (serverHost, learnerHost, 0),
            ]
            for (serverHost, learnerHost, size) in cases {
                let delay = Double(probe.random.int(in: 20...45)) / 1000
                let timeout = Double(probe.random.int(in: 60...90)) / 100
                let reply = probe.random.bytes(size)
                let request = Array("request \(probe.random.int(in: 1...9999))".utf8)
                let server = try ScriptedUDPServer("server", host: serverHost, transcript: probe.transcript) { _, _ in [.pause(delay), .reply(reply)] }
                defer { server.stop() }
                let learner = try LearnerUDPSocket(host: learnerHost)
                defer { learner.close() }
                let measured = try callRequest(
                    probe, learner, request: request, server: server.address, timeout: timeout, attempts: 2,
                    context: { Self.arrived(server) }, blocked: { server.received.count > 2 ? .boundedRetry : .udpAttemptTimeout })
                Thread.sleep(forTimeInterval: 0.01)  // a request sent again just now: let the server note it
                let sent = server.received.count
                let took = Self.ms(measured.seconds)
                switch measured.result {
                case .failure(let error):
                    throw probe.fail(
                        expected: "the server's reply, \(reply.count) bytes, about \(Self.ms(delay)) after the request",
                        actual: "it threw \(error) after \(took); the server received \(sent) request(s) and answered each",
                        hint: sent == 0 ? .udpSendDatagram
                            : Self.requestErrorHint(error, seconds: measured.seconds, timeout: timeout, attempts: 2, stale: nil) ?? .replySource)
                case .success(let bytes):
                    try Self.expectReply(bytes, reply, probe: probe)
                }
                guard measured.seconds <= delay + 0.35 else {
                    throw probe.fail(
                        expected: "the reply returned as soon as it arrived, \(Self.ms(delay)) after the request (timeout \(timeout) s)",
                        actual: "it returned the reply after \(took)", hint: .udpPromptReply)
                }
                guard measured.seconds >= delay * 0.8 else {
                    throw probe.fail(
                        expected: "the reply, which the server sent \(Self.ms(delay)) after the request",
                        actual: "it returned after only \(took), before the reply was sent", hint: .replySource)
                }
                guard sent == 1 else {
                    throw probe.fail(
                        expected: "one request (the reply came well within the timeout of \(timeout) s)",
                        actual: "the server received \(sent) requests, \(Self.gaps(server.received))", hint: .udpAttemptTimeout)
                }
                guard let from = server.received.first?.sender, from == learner.address else {
                    throw probe.fail(
                        expected: "the request to come from the socket it was given, \(learner.address)",
                        actual: "it came from \(server.received.first.map { "\($0.sender)" } ?? "nowhere")", hint: .udpSendSocket)
                }
                try Self.expectStillOpen(learner, probe: probe, after: "requestWithRetry")
            }
        }
    }

    // Row 20: a lost request is sent again, after the timeout (not sooner, not much later).
    func test9b_requestWithRetrySendsAgainAfterALoss() throws {
        try grade {
            let probe = Probe("requestWithRetry(timeout: T, attempts: 3) sends the request again about T seconds after the first is lost (not sooner), and returns the reply to the second")
            let timeout = Double(probe.random.int(in: 10...16)) / 100
            let reply = probe.random.bytes(probe.random.int(in: 1_025...4_000))
            let request = Array("ping \(probe.random.int(in: 1...9999))".utf8)
            let server = try ScriptedUDPServer("server", host: UDPLoopback.ipv4(probe.random), transcript: probe.transcript) { number, _ in
                number == 1 ? [] : [.reply(reply)]
            }
            defer { server.stop() }
            let learner = try LearnerUDPSocket()
            defer { learner.close() }
            let measured = try callRequest(
                probe, learner, request: request, server: server.address, timeout: timeout, attempts: 3,
                context: { Self.arrived(server) }, blocked: { server.received.count > 3 ? .boundedRetry : server.received.count <= 1 ? .udpAttemptTimeout : .replySource })
            let arrivals = server.received
            switch measured.result {
            case .failure(let error):
                let hint = error is NoReply && arrivals.count == 1 && measured.seconds >= 0.9 * timeout ? .retry
                    : Self.requestErrorHint(error, seconds: measured.seconds, timeout: timeout, attempts: 3, stale: nil) ?? (arrivals.count <= 1 ? .retry : .replySource)
                throw probe.fail(
                    expected: "the reply to the second request (timeout \(timeout) s, 3 attempts)",
                    actual: "it threw \(error) after \(Self.ms(measured.seconds)), having sent \(arrivals.count) request(s)", hint: hint)
            case .success(let bytes):
                try Self.expectReply(bytes, reply, probe: probe)
            }
            guard arrivals.count >= 2 else {
                throw probe.fail(expected: "a second request", actual: "the server received \(arrivals.count)", hint: .retry)
            }
            guard arrivals[1].bytes == request else {
                throw probe.fail(expected: "the same request again, \(escaped(request))", actual: "the second datagram was \(describeDatagram(arrivals[1].bytes))", hint: .retry)
            }
            let gap = arrivals[1].time - arrivals[0].time
            guard gap >= 0.7 * timeout, gap <= timeout + 0.6 else {
                throw probe.fail(
                    expected: "the second request about \(Self.ms(timeout)) after the first (the timeout)",
                    actual: "it came \(Self.ms(gap)) after the first", hint: .udpAttemptTimeout)
            }
            try Self.expectNoSpin(measured, probe: probe)
        }
    }

    // Row 20: when nothing ever answers, it gives up after exactly its attempts, each
    // waiting its whole (fractional) timeout, without spinning, and says what it tried.
    func test9c_requestWithRetryGivesUp() throws {
        try grade {
            let probe = Probe("requestWithRetry(timeout: T, attempts: A) to a server that never answers throws NoReply(attempts: A, timeout: T) after exactly A requests, one every T seconds, waiting without spinning")
            let timeout = Double(probe.random.int(in: 6...10)) / 100
            let attempts = probe.random.int(in: 2...3)
            let server = try ScriptedUDPServer("silent server", host: UDPLoopback.ipv4(probe.random), transcript: probe.transcript) { _, _ in [] }
            defer { server.stop() }
            let learner = try LearnerUDPSocket()
            defer { learner.close() }
            let stale = StaleErrno(probe.random, from: StaleErrno.udpCandidates)
            let measured = try callRequest(
                probe, learner, request: Array("anyone?".utf8), server: server.address, timeout: timeout, attempts: attempts, stale: stale,
                context: { Self.arrived(server) }, blocked: { server.received.count > attempts ? .boundedRetry : .udpAttemptTimeout })
            Thread.sleep(forTimeInterval: 0.03)  // let the last request land
            let arrivals = server.received
            let took = measured.seconds
            let summary = "\(arrivals.count) request(s) arrived (\(Self.gaps(arrivals))); it ended after \(Self.ms(took))"
            let expected = NoReply(attempts: attempts, timeout: timeout)
            switch measured.result {
            case .success(let bytes):
                throw probe.fail(expected: "NoReply (nobody answered)", actual: "it returned \(describeDatagram(bytes)); \(summary)", hint: .retry)
            case .failure(let error as NoReply) where error != expected:
                throw probe.fail(expected: "\(expected) (NoReply(attempts: \(attempts), timeout: \(timeout)))", actual: "it threw \(error) (NoReply(attempts: \(error.attempts), timeout: \(error.timeout)))", hint: .udpNoReplyFields)
            case .failure(let error as NoReply):
                _ = error
            case .failure(let error):
                throw probe.fail(
                    expected: "NoReply after \(attempts) attempts", actual: "it threw \(error); \(summary)",
                    hint: Self.requestErrorHint(error, seconds: took, timeout: timeout, attempts: attempts, stale: stale) ?? .retry)
            }
            guard arrivals.count == attempts else {
                throw probe.fail(expected: "\(attempts) requests (attempts: \(attempts))", actual: summary, hint: arrivals.count > attempts ? .boundedRetry : .retry)
            }
            let shortest = zip(arrivals.dropFirst(), arrivals).map { $0.time - $1.time }.min() ?? timeout
            guard shortest >= 0.7 * timeout, took >= 0.9 * Double(attempts) * timeout - 0.01, took <= Double(attempts) * timeout + 0.6 else {
                throw probe.fail(
                    expected: "one request every \(Self.ms(timeout)), NoReply after about \(Self.ms(Double(attempts) * timeout))",
                    actual: summary, hint: .udpAttemptTimeout)
            }
            try Self.expectNoSpin(measured, probe: probe)
        }
    }

    // Only the server's datagram is its answer: not a stranger at its address on another
    // port, nor one at another address on its port; and a stranger does not end the attempt.
    func test9d_requestWithRetryIgnoresStrangers() throws {
        try grade {
            let probe = Probe("requestWithRetry takes only the server's datagram as its reply: a stranger at the server's address on another port and a stranger at another address on the server's port are ignored, and the request is not sent again")
            let serverHost = UDPLoopback.ipv4(probe.random)
            let others = (0..<3).map { _ in UDPLoopback.ipv4(probe.random, avoiding: [serverHost]) }
            let fakes = [Array("not from the server: another port".utf8), Array("not from the server: another address".utf8)]
            let order = probe.random.pick([[0, 1], [1, 0]])
            let reply = probe.random.bytes(probe.random.int(in: 1_025...4_000))
            let timeout = Double(probe.random.int(in: 70...90)) / 100
            let server = try ScriptedUDPServer(
                "server", host: serverHost, strangers: [.otherPort, .samePort(hosts: others)], transcript: probe.transcript
            ) { number, _ in
                number == 1 ? order.map { ScriptedUDPServer.Step.stranger($0, fakes[$0]) } + [.pause(0.03), .reply(reply)] : [.reply(reply)]
            }
            defer { server.stop() }
            let learner = try LearnerUDPSocket()
            defer { learner.close() }
            let measured = try callRequest(
                probe, learner, request: Array("ping".utf8), server: server.address, timeout: timeout, attempts: 2,
                context: { Self.arrived(server) }, blocked: { server.received.count > 2 ? .boundedRetry : .replySource })
            switch measured.result {
            case .success(let bytes):
                if let index = fakes.firstIndex(of: bytes) {
                    throw probe.fail(
                        expected: "the reply from the server, \(server.address)",
                        actual: "it returned \(escaped(bytes)), from the stranger at \(server.strangerAddresses[index])", hint: .replySource)
                }
                try Self.expectReply(bytes, reply, probe: probe)
            case .failure(let error):
                // Sent again after a stranger's datagram, long before the timeout: the stranger ended the attempt.
                let arrivals = server.received
                let resentAfterStranger = arrivals.count > 1 && server.strangersSent.first.map { arrivals[1].time > $0 } == true
                    && arrivals[1].time - arrivals[0].time < 0.7 * timeout
                throw probe.fail(
                    expected: "the server's reply", actual: "it threw \(error) after \(Self.ms(measured.seconds)); \(Self.arrived(server))",
                    hint: resentAfterStranger ? .udpStrangerEndsAttempt
                        : Self.requestErrorHint(error, seconds: measured.seconds, timeout: timeout, attempts: 2, stale: nil) ?? .replySource)
            }
            Thread.sleep(forTimeInterval: 0.02)  // a request sent again just now: let the server note it
            let sent = server.received.count
            guard sent == 1 else {
                throw probe.fail(
                    expected: "one request: the strangers' datagrams are no reason to send again",
                    actual: "the server received \(sent) requests (\(Self.gaps(server.received)))", hint: .udpStrangerEndsAttempt)
            }
        }
    }

    // Strangers who keep sending must not stretch the wait: the deadline stays put.
    func test9e_requestWithRetryKeepsItsDeadlineWhileStrangersChatter() throws {
        try grade {
            let probe = Probe("requestWithRetry(timeout: T, attempts: 2) to a silent server throws NoReply after about 2T although strangers keep sending to it every T/4: their datagrams neither restart the wait nor end the attempt")
            let timeout = Double(probe.random.int(in: 8...11)) / 100
            let serverHost = UDPLoopback.ipv4(probe.random)
            let others = (0..<3).map { _ in UDPLoopback.ipv4(probe.random, avoiding: [serverHost]) }
            let go = DispatchSemaphore(value: 0)
            let server = try ScriptedUDPServer(
                "silent server", host: serverHost, strangers: [.otherPort, .samePort(hosts: others)], transcript: probe.transcript
            ) { number, _ in
                number == 1 ? [.run { go.signal() }] : []
            }
            defer { server.stop() }
            let learner = try LearnerUDPSocket()
            defer { learner.close() }
            let log = probe.transcript.open("strangers -> your socket \(learner.address)")
            let chatter = Chatter(from: server.strangers, to: learner.address, every: timeout / 4, limit: 5, gate: go, transcript: probe.transcript, log: log)
            defer { chatter.stop() }
            let measured = try callRequest(
                probe, learner, request: Array("anyone?".utf8), server: server.address, timeout: timeout, attempts: 2, seconds: 2 * timeout + 1.3,
                context: { Self.arrived(server) + ", while strangers sent \(chatter.sent) datagrams" }, blocked: { server.received.count > 2 ? .boundedRetry : .udpDeadlineStretched })
            chatter.stop()
            let arrivals = server.received
            let took = measured.seconds
            let summary = "\(arrivals.count) request(s) arrived (\(Self.gaps(arrivals))); it ended after \(Self.ms(took)), while strangers sent \(chatter.sent) datagrams"
            switch measured.result {
            case .success(let bytes):
                throw probe.fail(expected: "NoReply (the server never answers)", actual: "it returned \(describeDatagram(bytes)), a stranger's datagram; \(summary)", hint: .replySource)
            case .failure(let error as NoReply):
                _ = error
            case .failure(let error):
                throw probe.fail(
                    expected: "NoReply after 2 attempts", actual: "it threw \(error); \(summary)",
                    hint: Self.requestErrorHint(error, seconds: took, timeout: timeout, attempts: 2, stale: nil) ?? .retry)
            }
            guard took <= 2 * timeout + 0.5 else {
                throw probe.fail(expected: "NoReply after about \(Self.ms(2 * timeout)) (2 attempts of \(timeout) s)", actual: summary, hint: .udpDeadlineStretched)
            }
            let shortest = zip(arrivals.dropFirst(), arrivals).map { $0.time - $1.time }.min() ?? timeout
            guard arrivals.count == 2, shortest >= 0.7 * timeout, took >= 1.8 * timeout - 0.01 else {
                throw probe.fail(
                    expected: "2 requests, \(Self.ms(timeout)) apart, then NoReply after about \(Self.ms(2 * timeout))", actual: summary,
                    hint: arrivals.count < 2 ? .retry
                        : shortest < 0.7 * timeout || took < 1.8 * timeout - 0.01 ? .udpStrangerEndsAttempt : .boundedRetry)
            }
            try Self.expectNoSpin(measured, probe: probe)
        }
    }

    // Rows 2 and 3: every way openUDPSocket can fail is reported, and leaves nothing open.
    func test9f_openUDPSocketReportsEveryFailure() throws {
        try grade {
            let seeds = Probe("openUDPSocket(boundTo:) reports every failure and leaves nothing open")
            let heldHost = UDPLoopback.ipv4(seeds.random)
            for host in [heldHost, "::1"] {
                let holder = try HarnessSocket.udp(host: host)
                let taken = try holder.localAddress
                let probe = Probe("openUDPSocket(boundTo: \(taken)), a port another UDP socket holds, throws EADDRINUSE from bind and leaves nothing open")
                let outcome = try probe.attempt("openUDPSocket(boundTo: \(taken))", returns: { [$0] }, blockedHint: .datagramSocket) { try openUDPSocket(boundTo: taken) }
                try expectSocketError(
                    outcome, call: "bind", code: EADDRINUSE, probe: probe, function: "openUDPSocket(boundTo:)",
                    returnedHint: { fd in
                        (try? Inspect.type(fd)) != .datagram ? .datagramSocket : (try? Inspect.localAddress(fd)) != taken ? .udpBindAddress : nil
                    })
            }
            let foreign = SocketAddress.ipv4(host: "192.0.2.\(seeds.random.int(in: 1...254))", port: 0)
            let probe = Probe("openUDPSocket(boundTo: \(foreign)), an address this machine does not have, throws EADDRNOTAVAIL from bind and leaves nothing open")
            let outcome = try probe.attempt("openUDPSocket(boundTo: \(foreign))", returns: { [$0] }, blockedHint: .datagramSocket) { try openUDPSocket(boundTo: foreign) }
            try expectSocketError(
                outcome, call: "bind", code: EADDRNOTAVAIL, probe: probe, function: "openUDPSocket(boundTo:)",
                returnedHint: { fd in
                    (try? Inspect.type(fd)) != .datagram ? .datagramSocket : (try? Inspect.localAddress(fd))?.host != foreign.host ? .udpBindAddress : nil
                })

            let full = Probe("openUDPSocket(boundTo:) with the descriptor table full throws EMFILE from socket")
            let fullOutcome = try full.attempt("openUDPSocket(boundTo: 127.0.0.1:0) with no descriptor left", returns: { [$0] }, blockedHint: .datagramSocket) {
                try ErrorInputs.withDescriptorTableFull { try openUDPSocket(boundTo: .ipv4(host: "127.0.0.1", port: 0)) }
            }
            try expectSocketError(fullOutcome, call: "socket", code: EMFILE, probe: full, function: "openUDPSocket(boundTo:)")

            let unparsed: [SocketAddress] = [
                .ipv4(host: seeds.random.pick(["127.0.0.256", "127.1", "1.2.3.4.5", "::1", "256.1.1.1"]), port: 0),
                .ipv6(host: seeds.random.pick(["127.0.0.1", "::1::", "fe80::zz", "1:2:3:4:5:6:7:8:9"]), port: 0),
            ]
            for address in unparsed {
                let probe = Probe("openUDPSocket(boundTo: \(address)), a host that is not an address of its family, throws SocketError and leaves nothing open")
                let outcome = try probe.attempt("openUDPSocket(boundTo: \(address))", returns: { [$0] }, blockedHint: .datagramSocket) { try openUDPSocket(boundTo: address) }
                try Self.expectAnySocketError(outcome, probe: probe, function: "openUDPSocket(boundTo: \(address))", returnedHint: .udpUnparsedHost)
            }
        }
    }

    // Rule 1: sendDatagram's failures, with inputs an answer cannot special-case.
    func test9g_sendDatagramReportsFailures() throws {
        try grade {
            let receiver = try HarnessSocket.udp()
            let target = try receiver.localAddress
            let closedProbe = Probe("sendDatagram on a descriptor that is not open throws EBADF")
            let closed = ErrorInputs.closedDescriptor(closedProbe.random)
            let closedOutcome = try closedProbe.attempt("sendDatagram(\(closed), _:to: \(target))", blockedHint: .udpSendDatagram) { try sendDatagram(closed, Array("x".utf8), to: target) }
            try expectSocketError(closedOutcome, call: nil, code: EBADF, probe: closedProbe, function: "sendDatagram", returnedHint: { _ in .uncheckedResult("sendto") })

            let pipeProbe = Probe("sendDatagram on a pipe (not a socket) throws ENOTSOCK")
            try withReadablePipe { fd in
                let outcome = try pipeProbe.attempt("sendDatagram(\(fd) (a pipe), _:to: \(target))", blockedHint: .udpSendDatagram) { try sendDatagram(fd, Array("x".utf8), to: target) }
                try expectSocketError(outcome, call: nil, code: ENOTSOCK, probe: pipeProbe, function: "sendDatagram", returnedHint: { _ in .uncheckedResult("sendto") })
            }

            let hostProbe = Probe("sendDatagram to a host that is not an address throws SocketError")
            let learner = try LearnerUDPSocket()
            defer { learner.close() }
            let bogus = SocketAddress.ipv4(host: hostProbe.random.pick(["127.0.0.256", "127.1", "::1", "1.2.3.4.5"]), port: target.port ?? 9)
            let outcome = try hostProbe.attempt("sendDatagram(_:_:to: \(bogus))", blockedHint: .udpSendDatagram) { try sendDatagram(learner.fd, Array("x".utf8), to: bogus) }
            try Self.expectAnySocketError(outcome, probe: hostProbe, function: "sendDatagram(_:_:to: \(bogus))", returnedHint: .udpUnparsedAddress)
        }
    }

    // Rule 1: receiveDatagram's failures (checked last but two: a -1 used as a count traps).
    func test9h_receiveDatagramReportsFailures() throws {
        try grade {
            let closedProbe = Probe("receiveDatagram on a descriptor that is not open throws EBADF")
            let closed = ErrorInputs.closedDescriptor(closedProbe.random)
            let closedOutcome = try closedProbe.attempt("receiveDatagram(\(closed), maxSize: 64)", blockedHint: .udpReceiveOne) { try receiveDatagram(closed, maxSize: 64) }
            try expectSocketError(closedOutcome, call: nil, code: EBADF, probe: closedProbe, function: "receiveDatagram", returnedHint: { _ in .uncheckedResult("recvfrom") })

            let pipeProbe = Probe("receiveDatagram on a pipe (not a socket) throws ENOTSOCK")
            try withReadablePipe { fd in
                let outcome = try pipeProbe.attempt("receiveDatagram(\(fd) (a pipe), maxSize: 64)", blockedHint: .udpReceiveOne) { try receiveDatagram(fd, maxSize: 64) }
                try expectSocketError(outcome, call: nil, code: ENOTSOCK, probe: pipeProbe, function: "receiveDatagram", returnedHint: { _ in .uncheckedResult("recvfrom") })
            }
        }
    }

    // serveUDP passes its failures on, and serves exactly the number of requests asked.
    func test9i_serveUDPReportsFailuresAndServesNoMoreThanAsked() throws {
        try grade {
            let closedProbe = Probe("serveUDP on a descriptor that is not open throws EBADF")
            let closed = ErrorInputs.closedDescriptor(closedProbe.random)
            let closedOutcome = try closedProbe.attempt("serveUDP(\(closed), requests: 2, reply:)", blockedHint: .udpServeLoop) { try serveUDP(closed, requests: 2, reply: Array("x".utf8)) }
            try expectSocketError(closedOutcome, call: nil, code: EBADF, probe: closedProbe, function: "serveUDP", returnedHint: { _ in .udpServeLoop })

            let pipeProbe = Probe("serveUDP on a pipe (not a socket) throws ENOTSOCK")
            try withReadablePipe { fd in
                let outcome = try pipeProbe.attempt("serveUDP(\(fd) (a pipe), requests: 2, reply:)", blockedHint: .udpServeLoop) { try serveUDP(fd, requests: 2, reply: Array("x".utf8)) }
                try expectSocketError(outcome, call: nil, code: ENOTSOCK, probe: pipeProbe, function: "serveUDP", returnedHint: { _ in .udpServeLoop })
            }

            let probe = Probe("serveUDP(_:requests: 0, reply:) returns at once and leaves a waiting datagram unread and unanswered")
            let learner = try LearnerUDPSocket()
            defer { learner.close() }
            let client = try HarnessSocket.udp(host: UDPLoopback.ipv4(probe.random))
            let log = probe.transcript.open("client \(try client.localAddress) -> your server \(learner.address)")
            probe.transcript.record(log, .bytes(from: .harness, Array("not for you".utf8)))
            try client.sendDatagram(Array("not for you".utf8), to: learner.address)
            try probe.call("serveUDP(_:requests: 0, reply:)", unblock: learner.unblock, blockedHint: .udpRequestCount, errorHint: { _ in .udpRequestCount }) {
                try serveUDP(learner.fd, requests: 0, reply: Array("hello".utf8))
            }
            try Self.expectStillOpen(learner, probe: probe, after: "serveUDP")
            let answered = try client.receiveDatagram(seconds: 0.03)
            guard answered == nil, learner.take(seconds: 0.03) != nil else {
                throw probe.fail(expected: "no datagram read, none answered", actual: answered != nil ? "the client got an answer" : "the waiting datagram was read", hint: .udpRequestCount)
            }
        }
    }

    // requestWithRetry passes a failing call on: a failed send is not a lost datagram.
    func test9j_requestWithRetryReportsFailures() throws {
        try grade {
            let server = try HarnessSocket.udp()
            let target = try server.localAddress
            let closedProbe = Probe("requestWithRetry on a descriptor that is not open throws EBADF, without waiting out its attempts")
            let closed = ErrorInputs.closedDescriptor(closedProbe.random)
            let closedOutcome = try closedProbe.attempt("requestWithRetry(\(closed), request:to: \(target), timeout: 0.1, attempts: 2)", blockedHint: .udpSendError) {
                try requestWithRetry(closed, request: Array("x".utf8), to: target, timeout: 0.1, attempts: 2)
            }
            try Self.expectFailedCall(closedOutcome, code: EBADF, probe: closedProbe, server: server)

            // Nothing to read in this pipe: an answer that ignores the failed send waits out
            // its attempts and throws NoReply, which is the mistake.
            let pipeProbe = Probe("requestWithRetry on a pipe (not a socket) throws ENOTSOCK, without waiting out its attempts")
            try ErrorInputs.withPipe { fd in
                let outcome = try pipeProbe.attempt("requestWithRetry(\(fd) (a pipe), request:to: \(target), timeout: 0.1, attempts: 2)", blockedHint: .udpSendError) {
                    try requestWithRetry(fd, request: Array("x".utf8), to: target, timeout: 0.1, attempts: 2)
                }
                try Self.expectFailedCall(outcome, code: ENOTSOCK, probe: pipeProbe, server: server)
            }
        }
    }
}

// MARK: - Shared steps

extension Lesson05UDPGrader {
    /// Marks "the call was still blocked": replaced by a hint chosen from what was observed.
    fileprivate static let blocked = Hint("(blocked)", "")

    /// Calls requestWithRetry under a deadline (by default its attempts plus 1.5 s). When it
    /// blocks, the hint comes from `blocked`, asked after the fact; a spin gets `busy-wait`.
    fileprivate func callRequest(
        _ probe: Probe, _ learner: LearnerUDPSocket, request: [UInt8], server: SocketAddress, timeout: Double, attempts: Int,
        seconds: Double? = nil, stale: StaleErrno? = nil, context: () -> String = { "" }, blocked: () -> Hint
    ) throws -> Deadline.Measured<[UInt8]> {
        let function = "requestWithRetry(_:request: \(escaped(request)), to: \(server), timeout: \(timeout), attempts: \(attempts))"
        do {
            return try probe.measure(
                function, seconds: seconds ?? Double(attempts) * timeout + 1.5, unblock: learner.unblock,
                blockedHint: Self.blocked, spinningHint: .udpBusyWait
            ) {
                stale?.plant()
                return try requestWithRetry(learner.fd, request: request, to: server, timeout: timeout, attempts: attempts)
            }
        } catch let failure as CheckFailure where failure.hint == Self.blocked {
            let more = context()
            throw probe.fail(expected: failure.expected, actual: failure.actual + (more.isEmpty ? "" : "; " + more), hint: blocked())
        }
    }

    /// The hint for an error requestWithRetry threw where it should have returned (or
    /// thrown NoReply), from what it threw and how soon; nil when nothing specific fits.
    fileprivate static func requestErrorHint(_ error: any Error, seconds: Double, timeout: Double, attempts: Int, stale: StaleErrno?) -> Hint? {
        if let stale, stale.explains(error) { return .udpErrnoCheck }
        if let error = error as? SocketError, error.code == EAGAIN || error.code == EWOULDBLOCK { return .udpEagainTimeout }
        if error is ConnectionClosed { return .udpEmptyDatagram }
        if error is NoReply, seconds < 0.9 * Double(attempts) * timeout - 0.01 { return .udpAttemptTimeout }
        return nil
    }

    /// The hint for an error receiveDatagram threw where a datagram was waiting (or coming).
    fileprivate static func receiveErrorHint(_ error: any Error, stale: StaleErrno?) -> Hint? {
        if let stale, stale.explains(error) { return .udpErrnoCheck }
        guard let error = error as? SocketError else { return error is ConnectionClosed ? .udpEmptyDatagram : nil }
        if error.call.hasPrefix("SocketAddress") { return .udpSenderAddress }
        if error.code == EAGAIN || error.code == EWOULDBLOCK { return .udpReceiveWaits }
        return nil
    }

    /// A wait must sleep (in poll, or in recvfrom with a timeout): its thread uses almost no
    /// processor time. A spinning loop uses most of the wall time (less on a busy machine,
    /// hence the low bar; a sleeping wait uses well under a millisecond).
    fileprivate static func expectNoSpin(_ measured: Deadline.Measured<[UInt8]>, probe: Probe) throws {
        guard measured.cpuSeconds > max(0.015, 0.1 * measured.seconds) else { return }
        throw probe.fail(
            expected: "the wait to sleep in poll (or recvfrom with a timeout), using almost no processor time",
            actual: "its thread used \(ms(measured.cpuSeconds)) of processor time in \(ms(measured.seconds))", hint: .udpBusyWait)
    }

    /// The socket belongs to the caller: still open, still the same socket, after the call.
    fileprivate static func expectStillOpen(_ learner: LearnerUDPSocket, probe: Probe, after function: String) throws {
        guard learner.isStillOpen else {
            throw probe.fail(
                expected: "the socket it was given, fd \(learner.fd), still open after \(function) returned",
                actual: "fd \(learner.fd) is \(Inspect.isOpen(learner.fd) ? "another file now" : "closed")", hint: .udpCallersSocket)
        }
    }

    /// The reply requestWithRetry returned must be the server's, whole.
    fileprivate static func expectReply(_ bytes: [UInt8], _ reply: [UInt8], probe: Probe) throws {
        guard bytes != reply else { return }
        let hint: Hint
        if bytes.count < reply.count, reply.starts(with: bytes) {
            hint = .udpReplySize
        } else if bytes.count > reply.count, bytes.starts(with: reply) {
            hint = .countReturned
        } else {
            hint = .replySource
        }
        throw probe.fail(expected: "the server's reply, \(describeDatagram(reply))", actual: "it returned \(describeDatagram(bytes))", hint: hint)
    }

    /// A failing call inside requestWithRetry must surface as that SocketError, at once.
    fileprivate static func expectFailedCall(_ outcome: Result<[UInt8], any Error>, code: Int32, probe: Probe, server: HarnessSocket) throws {
        // The server heard a request although the descriptor given cannot send: another socket sent it.
        if let heard = try server.receiveDatagram(seconds: 0) {
            throw probe.fail(
                expected: "requestWithRetry to throw SocketError with \(errnoName(code)) (the descriptor it was given cannot send)",
                actual: "the server received a request from \(heard.sender), another socket; then \(outcomeText(outcome))", hint: .udpSendSocket)
        }
        if case .failure(let error) = outcome, error is NoReply {
            throw probe.fail(
                expected: "requestWithRetry to throw SocketError with \(errnoName(code))",
                actual: "it threw \(error): it took the failed call for a lost datagram", hint: .udpSendError)
        }
        try expectSocketError(outcome, call: nil, code: code, probe: probe, function: "requestWithRetry", returnedHint: { _ in .udpSendError })
    }

    /// Any SocketError will do (the doc promises one, naming the call); nothing returned.
    fileprivate static func expectAnySocketError<Value>(_ outcome: Result<Value, any Error>, probe: Probe, function: String, returnedHint: Hint) throws {
        switch outcome {
        case .success(let value):
            let actual = Probe.returned(value)
            if let fd = value as? Int32 { closeIfOpen(fd) }
            throw probe.fail(expected: "\(function) to throw SocketError", actual: actual, hint: returnedHint)
        case .failure(let error as SocketError):
            _ = error
        case .failure(let error):
            throw probe.fail(
                expected: "\(function) to throw SocketError", actual: "it threw \(type(of: error)): \(error)",
                hint: Hint("error-type", "Throw SocketError(call: ...) right after the failed call: it reads errno and names the error. A host that does not parse makes address.withSockAddr throw one: let it through."))
        }
    }

    /// Every datagram that arrives on `socket`: the first within `first` seconds, then any
    /// already on their way. Each goes into the transcript.
    fileprivate static func drain(_ socket: HarnessSocket, first: Double, log: Int, transcript: Transcript) throws -> [(bytes: [UInt8], sender: SocketAddress)] {
        var pieces: [(bytes: [UInt8], sender: SocketAddress)] = []
        while let piece = try socket.receiveDatagram(limit: 65_536, seconds: pieces.isEmpty ? first : 0.005) {
            transcript.record(log, .note("a datagram arrived from \(piece.sender): \(describeDatagram(piece.bytes))"))
            pieces.append(piece)
            if pieces.count > 64 { break }
        }
        return pieces
    }

    /// Runs `serveUDP(requests: clients.count)` while the clients send; client `lateClient`
    /// sends only once client 0 has its reply. Then judges what each client received.
    fileprivate func serveAndJudge(
        _ probe: Probe, learner: LearnerUDPSocket, clients: [HarnessSocket], requests: [[UInt8]], lateClient: Int?, reply: [UInt8]
    ) throws {
        let count = clients.count
        let logs = try clients.enumerated().map { number, client in
            probe.transcript.open("client \(number + 1) \(try client.localAddress) -> your server \(learner.address)")
        }
        for number in 0..<count where number != lateClient {
            probe.transcript.record(logs[number], .note("harness -> your code: \(describeDatagram(requests[number]))"))
            try clients[number].sendDatagram(requests[number], to: learner.address)
        }
        // The late client waits for client 1's reply before it sends, and a moment more (a
        // server may connect to a client to answer, if it disconnects right after).
        let pause = Double(probe.random.int(in: 10...25)) / 1000
        let firstReply = FirstReply()
        let choreography = DispatchSemaphore(value: 0)
        if let late = lateClient {
            let (first, lateSocket, request, target) = (clients[0], clients[late], requests[late], learner.address)
            let (transcript, lateLog) = (probe.transcript, logs[late])
            Thread {
                defer { choreography.signal() }
                guard let got = try? first.receiveDatagram(limit: 65_536, seconds: 2.2) else { return }
                firstReply.set(got)
                Thread.sleep(forTimeInterval: pause)
                transcript.record(lateLog, .note("client 1 has its reply; now this client sends \(describeDatagram(request))"))
                try? lateSocket.sendDatagram(request, to: target)
            }.start()
        } else {
            choreography.signal()
        }
        let stale = StaleErrno(probe.random, from: StaleErrno.udpCandidates)
        let function = "serveUDP(_:requests: \(count), reply: \(reply.count) bytes)"
        let outcome: Result<Void, any Error>
        do {
            outcome = try probe.attempt(function, seconds: 2.5, unblock: learner.unblock, blockedHint: Self.blocked) {
                stale.plant()
                try serveUDP(learner.fd, requests: count, reply: reply)
            }
        } catch let failure as CheckFailure where failure.hint == Self.blocked {
            _ = choreography.wait(timeout: .now() + 3)
            let received = try Self.collect(clients, firstReply: firstReply, logs: logs, transcript: probe.transcript)
            let hint: Hint
            if lateClient != nil && firstReply.value == nil {
                hint = .udpServeEach
            } else if learner.isConnected {
                hint = .udpConnectedServer
            } else if received.allSatisfy({ !$0.isEmpty }) {
                hint = .udpRequestCount
            } else if requests.indices.contains(where: { requests[$0].isEmpty && received[$0].isEmpty }) {
                hint = .udpEmptyDatagram
            } else if received.contains(where: { !$0.isEmpty }) {
                // Some requests were answered, one was read and never answered, and now it waits
                // for more: two requests came out of one receive.
                hint = .oneDatagram
            } else {
                hint = .udpServeLoop
            }
            throw probe.fail(expected: failure.expected, actual: failure.actual + "; " + Self.whoGotWhat(received), hint: hint)
        }
        _ = choreography.wait(timeout: .now() + 3)
        let received = try Self.collect(clients, firstReply: firstReply, logs: logs, transcript: probe.transcript)
        if case .failure(let error) = outcome {
            let emptyPending = requests.indices.contains { requests[$0].isEmpty && received[$0].isEmpty }
            throw probe.fail(
                expected: "\(function) to answer \(count) requests and return", actual: "it threw \(error); " + Self.whoGotWhat(received),
                hint: stale.explains(error) ? .udpErrnoCheck : emptyPending ? .udpEmptyDatagram
                    : (error as? SocketError)?.call.hasPrefix("send") == true ? .replyToSender : .udpServeLoop)
        }
        for number in 0..<count {
            let client = try clients[number].localAddress
            guard let first = received[number].first else {
                let hint: Hint
                var actual = Self.whoGotWhat(received)
                if let unread = learner.take(seconds: 0.02) {
                    hint = .udpRequestCount
                    actual += "; serveUDP returned with a request from \(unread.sender) still unread"
                } else if received.contains(where: { $0.count > 1 }) {
                    hint = .replyToSender
                } else if requests[number].isEmpty {
                    hint = .udpEmptyDatagram
                } else {
                    hint = .replyToSender
                }
                throw probe.fail(
                    expected: "client \(number + 1) at \(client) to get the reply", actual: actual, hint: hint)
            }
            guard first.bytes == reply else {
                let hint: Hint = first.bytes.count < reply.count && reply.starts(with: first.bytes) ? .udpSendWhole : .udpServeReply
                throw probe.fail(
                    expected: "client \(number + 1) to get the reply, \(describeDatagram(reply))",
                    actual: "it got \(describeDatagram(first.bytes))", hint: hint)
            }
            guard first.sender == learner.address else {
                throw probe.fail(
                    expected: "client \(number + 1)'s reply to come from the server's socket, \(learner.address)",
                    actual: "it came from \(first.sender)", hint: .udpReplyFromServer)
            }
            guard received[number].count == 1 else {
                throw probe.fail(
                    expected: "each client to get exactly one reply (each sent one request), at its own address",
                    actual: Self.whoGotWhat(received), hint: .replyToSender)
            }
        }
        try Self.expectStillOpen(learner, probe: probe, after: "serveUDP")
    }

    /// What each client received: client 1's first reply (taken by the choreography), then
    /// whatever else reached each one.
    fileprivate static func collect(
        _ clients: [HarnessSocket], firstReply: FirstReply, logs: [Int], transcript: Transcript
    ) throws -> [[(bytes: [UInt8], sender: SocketAddress)]] {
        var received: [[(bytes: [UInt8], sender: SocketAddress)]] = []
        for (number, client) in clients.enumerated() {
            var got: [(bytes: [UInt8], sender: SocketAddress)] = []
            if number == 0, let first = firstReply.value {
                transcript.record(logs[0], .note("a datagram arrived from \(first.sender): \(describeDatagram(first.bytes))"))
                got.append(first)
            }
            got += try drain(client, first: got.isEmpty ? 0.3 : 0.01, log: logs[number], transcript: transcript)
            received.append(got)
        }
        return received
    }

    fileprivate static func whoGotWhat(_ received: [[(bytes: [UInt8], sender: SocketAddress)]]) -> String {
        received.enumerated().map { number, got in
            "client \(number + 1) got " + (got.isEmpty ? "nothing" : got.map { "\($0.bytes.count) bytes from \($0.sender)" }.joined(separator: " and "))
        }.joined(separator: ", ")
    }

    fileprivate static func outcomeText<T>(_ outcome: Result<T, any Error>) -> String {
        switch outcome {
        case .success(let value): return Probe.returned(value)
        case .failure(let error): return "it threw \(error)"
        }
    }

    /// "2 request(s) arrived (request 1 at 0 ms, request 2 at 150 ms)"
    fileprivate static func arrived(_ server: ScriptedUDPServer) -> String {
        let arrivals = server.received
        return "\(arrivals.count) request(s) arrived" + (arrivals.isEmpty ? "" : " (\(gaps(arrivals)))")
    }

    fileprivate static func ms(_ seconds: Double) -> String { "\(Int((seconds * 1000).rounded())) ms" }

    /// "1 at 0 ms, 2 at 201 ms": when each request arrived, from the first.
    fileprivate static func gaps(_ arrivals: [ScriptedUDPServer.Arrival]) -> String {
        guard let start = arrivals.first?.time else { return "none" }
        let shown = arrivals.prefix(4).enumerated().map { "request \($0.offset + 1) at \(ms($0.element.time - start))" }
        return shown.joined(separator: ", ") + (arrivals.count > 4 ? ", and \(arrivals.count - 4) more up to \(ms(arrivals.last!.time - start))" : "")
    }
}

/// Client 1's reply, handed from the choreography thread to the check.
private final class FirstReply: @unchecked Sendable {
    private let lock = NSLock()
    private var reply: (bytes: [UInt8], sender: SocketAddress)?
    func set(_ value: (bytes: [UInt8], sender: SocketAddress)) { lock.withLock { reply = value } }
    var value: (bytes: [UInt8], sender: SocketAddress)? { lock.withLock { reply } }
}

extension Hint {
    static let datagramSocket = Hint("datagram-socket", "A UDP socket is socket(family, SocketType.datagram.rawValue, 0), bound with bind to the address you were given. No listen, no accept: datagrams simply arrive.")
    static let udpSocketFamily = Hint("socket-family", "Make the socket in the address's own family: socket(address.family.rawValue, SocketType.datagram.rawValue, 0). An AF_INET socket cannot bind ::1, and an AF_INET6 one is not what an IPv4 address asks for.")
    static let udpBindAddress = Hint("bind-address", "Bind exactly the address you were given: try address.withSockAddr { pointer, length in bind(fd, pointer, length) }, and check it returned 0. All of 127.0.0.0/8 is loopback, so 127.45.6.7 is an address like 127.0.0.1; and keep its port (0 lets the kernel choose one).")
    static let oneDatagram = Hint("one-datagram", "UDP keeps message boundaries: one recvfrom returns exactly one datagram. Call it once per datagram; do not loop to fill a buffer as you would on a stream.")
    static let truncation = Hint("truncation", "recvfrom silently cuts a datagram longer than the buffer, and the rest is lost. Ask for maxSize + 1 bytes: if all of them came, the datagram was too long; say so with truncated = true (Linux can also tell you with MSG_TRUNC).")
    static let udpExactFit = Hint("exact-fit", "A datagram of exactly maxSize bytes fits: it is not truncated. With a buffer of maxSize + 1 bytes, truncated means more than maxSize came (got > maxSize), not got == maxSize.")
    static let udpBufferSize = Hint("buffer-size", "Size the buffer from maxSize (maxSize + 1 bytes), not a fixed number: a datagram can be as long as 65,507 bytes, and everything past your buffer is lost.")
    static let udpReceiveOne = Hint("receive-one", "receiveDatagram is one recvfrom into a buffer of maxSize + 1 bytes, with a sockaddr_storage for the sender. Only -1 is an error; read errno (create the SocketError) right then.")
    static let udpSenderAddress = Hint("sender-address", "Return the sender recvfrom wrote into a sockaddr_storage (large enough for IPv6 too), with the length it gave back: SocketAddress(storage: storage, length: length). A sockaddr_in holds only IPv4, and a port read by hand is in network byte order.")
    static let udpEmptyDatagram = Hint("empty-datagram", "A 0-byte datagram is a real datagram: sendto sends it and recvfrom returns 0 for it. UDP has no end-of-file (unlike TCP in lesson 4), so 0 is not \"closed\" and not an error: send it, and return it as an empty Datagram.")
    static let udpSendWhole = Hint("send-whole", "One sendto, one datagram: pass all the bytes to a single sendto. Splitting them (as lesson 3's sendAll does for a stream) makes several datagrams, and the receiver gets pieces. A datagram goes whole or not at all: one too large fails with EMSGSIZE, which you throw.")
    static let udpSendBytes = Hint("send-bytes", "Send exactly the bytes you were given, all bytes.count of them: bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, sendNoSignal, pointer, length) }.")
    static let udpSendSocket = Hint("send-socket", "Send on the descriptor you were given: the receiver sees the socket's address as the datagram's source, and answers there. A socket of your own has another address (and leaks).")
    static let udpSendtoAddress = Hint("sendto-address", "An unconnected UDP socket needs the address with every datagram: sendto(fd, pointer, count, sendNoSignal, address, length) inside address.withSockAddr. Plain send fails with EDESTADDRREQ.")
    static let udpSendDatagram = Hint("send-datagram", "sendDatagram is one sendto of all the bytes to the address (inside address.withSockAddr), with sendNoSignal. Only a -1 from sendto is an error.")
    static let udpStaysUnconnected = Hint("stays-unconnected", "sendto needs no connect. connect() on a UDP socket makes the kernel drop every datagram from any other address, so the socket stops hearing from everyone else. Pass the address to sendto each time (or, if you connect, undo it before you return).")
    static let udpReceiveWaits = Hint("receive-waits", "receiveDatagram waits for the next datagram, as Python's recvfrom does: a blocking recvfrom, with no MSG_DONTWAIT (and no timeout of its own). EAGAIN means nothing had come yet, which is no reason to give up.")
    static let udpCallersSocket = Hint("callers-socket", "The descriptor belongs to the caller, who goes on using it (a server answers many requests with it): use it, and leave it open. Close only the sockets your function opened itself.")
    static let udpErrnoCheck = Hint("errno-check", "Decide from the return value, not from errno: errno keeps the code of some earlier failure until another failing call overwrites it, so it is often non-zero after a call that worked. Read it only when the call returned -1.")
    static let udpUnparsedHost = Hint("unparsed-host", "When the host is not an address of its family, address.withSockAddr throws (inet_pton failed): let that error through, and close the socket before it leaves. Swallowing it (try?) returns a socket bound to nothing.")
    static let udpUnparsedAddress = Hint("unparsed-address", "When the address does not parse, address.withSockAddr throws: let that error through (try, not try?). Swallowing it returns as if the datagram had been sent, when nothing was.")
    static let replyToSender = Hint("reply-to-sender", "Answer each request at the address recvfrom gave you for it. UDP has no connection: the sender's address is the only way back, and every client has its own.")
    static let udpReplyFromServer = Hint("reply-from-server", "Send each reply from the server's own socket, fd: a client knows the server by its address and port, and a reply from another socket (another port or address) looks like a stranger's, which a careful client ignores.")
    static let udpConnectedServer = Hint("connected-server", "Do not connect() the server's socket to a client: once connected, a UDP socket receives only from that one address, and every other client's requests are dropped. sendto with the sender's address answers without connecting.")
    static let udpServeEach = Hint("serve-each", "Answer each request as soon as it arrives: receive one, reply, then receive the next. A client waits for its reply before it sends again, so a server that first collects every request can wait forever.")
    static let udpRequestCount = Hint("request-count", "Serve exactly `requests` datagrams (for _ in 0..<requests): one fewer leaves a client unanswered and its request unread; one more blocks, waiting for a request that never comes.")
    static let udpServeReply = Hint("serve-reply", "Answer every request with the bytes you were given as `reply`, whole, whatever the request said (even an empty one).")
    static let udpServeLoop = Hint("serve-loop", "serveUDP is `requests` times: receiveDatagram(fd, maxSize: ...), then sendDatagram(fd, reply, to: its sender). Let an error from either call through: it means the socket cannot be used.")
    static let retry = Hint("retry", "Datagrams get lost and nobody tells you. Wait for the reply for `timeout` seconds (poll), and if none comes, send the request again, up to `attempts` times in all; then throw NoReply.")
    static let boundedRetry = Hint("bounded-retry", "Retry a bounded number of times, each with its timeout, then give up with NoReply: a client that waits or retries forever hangs when the server is down.")
    static let replySource = Hint("reply-source", "Check who a datagram is from: anyone can send to your port. Only a datagram whose sender is the server's address (the same address AND the same port: compare the whole SocketAddress) is its reply; ignore the others and keep waiting.")
    static let udpReplySize = Hint("reply-size", "A reply can be as long as a datagram: receive it with receiveDatagram(fd, maxSize: 65_507), the largest UDP payload over IPv4. A 1,024-byte buffer cuts a longer reply short.")
    static let udpPromptReply = Hint("prompt-reply", "Return as soon as the reply arrives: poll (or recvfrom with SO_RCVTIMEO) wakes up the moment a datagram is there. Sleeping for the timeout first, or waiting in large steps, makes every request as slow as a lost one.")
    static let udpAttemptTimeout = Hint("attempt-timeout", "Each attempt waits `timeout` seconds, no less and no more, and a timeout can be a fraction: 0.2 s is poll(&entry, 1, Int32(0.2 * 1000)), 200 ms. Int32(timeout) turns 0.2 into 0 (poll returns at once, every attempt ends immediately); a timeval of whole seconds turns it into 0 s, which means no timeout at all (recvfrom waits forever). Send again only when an attempt's time is up.")
    static let udpEagainTimeout = Hint("eagain-timeout", "With SO_RCVTIMEO, recvfrom fails with EAGAIN (EWOULDBLOCK) when the time is up: that is the attempt timing out, not an error. Send again, and after the last attempt throw NoReply.")
    static let udpBusyWait = Hint("busy-wait", "Wait in poll (or in recvfrom with SO_RCVTIMEO) with the time left, so the thread sleeps until a datagram comes or the time is up. A loop of non-blocking reads (MSG_DONTWAIT) until the deadline keeps a processor core busy the whole time.")
    static let udpNoReplyFields = Hint("no-reply-fields", "Throw NoReply(attempts: attempts, timeout: timeout) with the values you were given: the caller reads them to say what was tried.")
    static let udpDeadlineStretched = Hint("deadline-stretched", "A stranger's datagram must not buy more time: after one, wait again only for the time left until the same deadline (deadline - monotonicSeconds()), not a fresh timeout. Otherwise anyone who keeps sending keeps you waiting forever.")
    static let udpStrangerEndsAttempt = Hint("stranger-ends-attempt", "A stranger's datagram does not end the attempt: ignore it and keep waiting for the server until this attempt's deadline. Sending again at once wastes the attempts (and the server's time).")
    static let udpSendError = Hint("send-error", "A failed sendto (or poll, or recvfrom) is an error, not a lost datagram: throw its SocketError. Waiting and retrying a call that cannot work hides the reason (here the descriptor is not a socket you can use).")
}
