import Foundation
import GradingHarness
import Lesson03
import SocketKit
import XCTest

/// Grades Exercises/Lesson03/Client.swift. Checklist rows 3, 8, 9, 17 and 26.
///
/// Every input a doc comment promises to handle is varied: addresses across 127.0.0.0/8 and
/// ::1, hosts that do not parse, a full descriptor table, errno left stale before a call that
/// succeeds, descriptors that are closed or not sockets, payloads of 0, 1 and more than 65,535
/// bytes, short writes on blocking and non-blocking sockets. Sizes, addresses and gaps come
/// from each check's seeded generator (`probe.random`).
final class Lesson03ConnectGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(3)
    }

    // Rows 9 and 26: openConnection reaches the address it is given, anywhere in 127.0.0.0/8
    // and over IPv6, with a TCP socket of the address's family, whatever errno held before.
    func test1_openConnectionConnectsWhereItIsTold() throws {
        try grade {
            let probe = Probe("openConnection(to:) connects to a server on a 127.0.0.0/8 address and on ::1, with a blocking TCP socket of the address's family")
            let random = probe.random
            for host in [Lesson03Support.loopbackHost(random), "::1"] {
                let (server, address) = try Peer.server("server", host: host, transcript: probe.transcript, script: [.receiveUntilClosed(seconds: 2)])
                defer { server.stop() }
                let fd = try probe.call(
                    "openConnection(to: \(address))", returns: { [$0] }, blockedHint: .openBlocks,
                    errorHint: { error in Self.openFailureHint(error, serverAccepted: Lesson03Support.accepted(server, within: 0.5)) }
                ) {
                    ErrorInputs.leaveStaleErrno(random)
                    return try openConnection(to: address)
                }
                defer { closeIfOpen(fd) }
                try Self.expectConnected(fd, to: address, probe: probe)
            }
        }
    }

    // Row 9: a refused connection is an error, over IPv4 and IPv6, and leaves nothing open (row 3).
    func test2_openConnectionReportsRefusal() throws {
        try grade {
            let probe = Probe("openConnection(to:) a port where nothing listens (a 127.0.0.0/8 address, then ::1) throws ECONNREFUSED and leaves nothing open")
            let random = probe.random
            for host in [Lesson03Support.loopbackHost(random), "::1"] {
                let closed = try ClosedPort(host: host)
                let outcome = try probe.attempt("openConnection(to: \(closed.address))", returns: { [$0] }, blockedHint: .openBlocks) {
                    ErrorInputs.leaveStaleErrno(random)
                    return try openConnection(to: closed.address)
                }
                if case .failure(let error as SocketError) = outcome, error.code == EAFNOSUPPORT || error.code == EINVAL {
                    throw probe.fail(expected: "openConnection(to: \(closed.address)) to throw SocketError with ECONNREFUSED from connect()", actual: "it threw \(error)", hint: .addressFamily)
                }
                try expectSocketError(
                    outcome, call: "connect", code: ECONNREFUSED, probe: probe, function: "openConnection(to: \(closed.address))",
                    returnedHint: { fd in Self.unconnectedHint(fd) })
            }
        }
    }

    // Row 3: every way openConnection can throw leaves nothing open: a host that is not an
    // address (withSockAddr throws), socket() failing with EMFILE. Both families each.
    func test3_openConnectionLeavesNothingOpenWhenItThrows() throws {
        try grade {
            let probe = Probe("openConnection(to:) throws and leaves nothing open for a host that is not an address, and when socket() fails (EMFILE, a full descriptor table)")
            let random = probe.random
            // Listeners on the same ports: an answer that ignores a failed parse and connects to
            // 0.0.0.0 or :: reaches them, and returns a socket instead of throwing.
            let listeners = [try HarnessSocket.listener(host: "127.0.0.1"), try HarnessSocket.listener(host: "::1")]
            let live = try listeners.map { try $0.localAddress }
            probe.transcript.note("the harness listens on \(live[0]) and \(live[1]), and never accepts")
            let unparsable: [SocketAddress] = [
                .ipv4(host: Lesson03Support.badIPv4Host(random), port: live[0].port!),
                .ipv6(host: Lesson03Support.badIPv6Host(random), port: live[1].port!),
            ]
            for address in unparsable {
                let outcome = try probe.attempt("openConnection(to: \(address))", returns: { [$0] }, blockedHint: .openBlocks) {
                    try openConnection(to: address)
                }
                if case .success(let fd) = outcome {
                    let actual = Probe.returned(fd)
                    closeIfOpen(fd)
                    throw probe.fail(
                        expected: "openConnection(to:) to throw: \"\(address.host!)\" is not an address (withSockAddr throws SocketError for it)",
                        actual: actual, hint: .openBadHost)
                }
            }
            for address in live {
                let outcome = try probe.attempt("openConnection(to: \(address)) with the descriptor table full", returns: { [$0] }, blockedHint: .openBlocks) {
                    ErrorInputs.leaveStaleErrno(random)
                    return try ErrorInputs.withDescriptorTableFull { try openConnection(to: address) }
                }
                try expectSocketError(outcome, call: "socket", code: EMFILE, probe: probe, function: "openConnection(to: \(address)) with no descriptor free")
            }
        }
    }

    // Row 9: the connect_ex style hands the error back as a value; 0 means connected, even
    // when errno held something stale; the caller's socket is the one connected, and stays open.
    func test4_connectExReturnsTheErrorCode() throws {
        try grade {
            let probe = Probe("connectEx(_:to:) returns ECONNREFUSED as a value for a closed port and 0 when it connects the socket it was given (errno stale before it), over IPv4 (127.0.0.0/8) and IPv6")
            let random = probe.random
            let host = Lesson03Support.loopbackHost(random)
            for (family, host) in [(AddressFamily.inet, host), (.inet6, "::1")] {
                let closed = try ClosedPort(host: host)
                let socket = try HarnessSocket.make(family)
                try Self.expectConnectEx(socket.fd, to: closed.address, returns: ECONNREFUSED, for: "a port where nothing listens", probe: probe)
            }
            for host in [host, "::1"] {
                let (server, address) = try Peer.server("server", host: host, transcript: probe.transcript, script: [.receiveUntilClosed(seconds: 2)])
                defer { server.stop() }
                let socket = try HarnessSocket.make(address.family)
                try Self.expectConnectEx(socket.fd, to: address, returns: 0, for: "a listening server", probe: probe)
            }
        }
    }

    // Row 9, rule 1: every failed connect is a value, not only a refusal: EISCONN, EBADF for
    // -1 and for a closed positive descriptor, ENOTSOCK for a pipe. Only an address that does
    // not parse throws, and that leaves the socket as it was.
    func test5_connectExReturnsEveryFailureAsAValue() throws {
        try grade {
            let probe = Probe("connectEx(_:to:) returns EISCONN, EBADF (fd -1, a closed descriptor) and ENOTSOCK (a pipe) as values, and throws only for an address that does not parse")
            let random = probe.random
            let (server, address) = try Peer.server("server", host: Lesson03Support.loopbackHost(random), transcript: probe.transcript, script: [.receiveUntilClosed(seconds: 2)])
            defer { server.stop() }
            // Connected by a blocking connect: a socket whose non-blocking connect has just
            // completed answers a second connect with 0 once, not EISCONN.
            let connected = try HarnessSocket.make(address.family)
            let connectedFirst = try address.withSockAddr { connect(connected.fd, $0, $1) }
            guard connectedFirst == 0 else { throw SocketError(call: "connect") }
            _ = Lesson03Support.accepted(server, within: 1)
            server.note("the harness connected this socket itself (fd \(connected.fd)), then handed it to connectEx")
            try Self.expectConnectEx(connected.fd, to: address, returns: EISCONN, for: "a socket that is already connected", probe: probe)
            for fd in [-1, ErrorInputs.closedDescriptor(random)] {
                try Self.expectConnectEx(fd, to: address, returns: EBADF, for: "descriptor \(fd), which is not open", probe: probe)
            }
            try ErrorInputs.withPipe { fd in
                try Self.expectConnectEx(fd, to: address, returns: ENOTSOCK, for: "a pipe (descriptor \(fd))", probe: probe)
            }
            let unparsable: [SocketAddress] = [
                .ipv4(host: Lesson03Support.badIPv4Host(random), port: address.port!),
                .ipv6(host: Lesson03Support.badIPv6Host(random), port: address.port!),
            ]
            for bad in unparsable {
                let socket = try HarnessSocket.make(bad.family)
                let before = Inspect.identity(socket.fd)
                let outcome = try probe.attempt("connectEx(\(socket.fd), to: \(bad))", blockedHint: .connectExBlocks) { try connectEx(socket.fd, to: bad) }
                guard Inspect.identity(socket.fd) == before else {
                    throw probe.fail(expected: "connectEx to leave fd \(socket.fd) open: it belongs to the caller", actual: "after it, \(Inspect.describe(socket.fd))", hint: .connectExCloses)
                }
                if case .success(let value) = outcome {
                    throw probe.fail(
                        expected: "connectEx to throw: \"\(bad.host!)\" is not an address, so there is nothing to connect to (withSockAddr throws)",
                        actual: "it returned \(value)\(value == 0 ? "" : " (\(errnoName(value)))"); the socket: \(Inspect.describe(socket.fd))", hint: .connectExBadAddress)
                }
            }
        }
    }

    // Row 17 and rule 1: sendAll throws SocketError when it cannot send, never dies of
    // SIGPIPE, never spins or traps on a -1, and leaves the caller's descriptor open. In a
    // child process: a SIGPIPE, a trap or an endless loop takes down only the child. The four
    // children run at once; their reports are judged in a fixed order.
    func test6_sendAllThrowsWhenItCannotSend() throws {
        try grade {
            let probe = Probe("sendAll(_:_:) throws SocketError when it cannot send: to a peer that reset the connection (EPIPE or ECONNRESET, never killed by SIGPIPE), on a closed descriptor (EBADF), on a pipe (ENOTSOCK); the caller's descriptor stays open")
            let random = probe.random
            var cases: [@Sendable () throws -> Void] = []
            var servers: [Peer] = []
            defer { servers.forEach { $0.stop() } }
            for variant in ["read", "unread"] {
                let (server, address) = try Peer.server("server", transcript: probe.transcript, script: [.reset])
                servers.append(server)
                let size = random.int(in: 1...200_000)
                let story = variant == "read"
                    ? "a child process read the reset (recv: ECONNRESET), then called sendAll with \(size) bytes: the send must fail with EPIPE"
                    : "a child process saw the reset arrive without reading it, then called sendAll with \(size) bytes: the send must fail with ECONNRESET"
                cases.append {
                    try Self.judgeChild(
                        ["send-after-reset", "\(address.port!)", variant, "\(size)"], situation: "a connection the peer reset (\(variant == "read" ? "the reset already read" : "the reset not yet read"))",
                        codes: [EPIPE, ECONNRESET], callMustBeSend: true, descriptorStays: true, probe: probe, note: { server.note(story + "; " + $0) })
                }
            }
            let closed = ErrorInputs.closedDescriptor(random)
            let sizes = [random.int(in: 1...100_000), random.int(in: 1...100_000)]
            cases.append {
                try Self.judgeChild(
                    ["send-all-to", "closed:\(closed)", "\(sizes[0])"], situation: "descriptor \(closed), which is not open",
                    codes: [EBADF], callMustBeSend: false, descriptorStays: false, probe: probe,
                    note: { probe.transcript.note("a child process called sendAll with \(sizes[0]) bytes on descriptor \(closed), which is not open; \($0)") })
            }
            cases.append {
                try Self.judgeChild(
                    ["send-all-to", "pipe", "\(sizes[1])"], situation: "a pipe's read end (not a socket)",
                    codes: [ENOTSOCK, EBADF], callMustBeSend: false, descriptorStays: true, probe: probe,
                    note: { probe.transcript.note("a child process called sendAll with \(sizes[1]) bytes on the read end of a pipe (its write end closed); \($0)") })
            }
            try Lesson03Support.runConcurrently(cases)
        }
    }

    // Rule 2 and 3: sizes 0, 1 and more than 65,535 on one connection; the caller's socket is
    // still open, in the same mode, and still able to send afterwards.
    func test7_sendAllSendsEverySizeAndLeavesTheSocketOpen() throws {
        try grade {
            let probe = Probe("sendAll(_:_:) sends 1 byte, then 0 bytes, then more than 65,535 bytes on one connection (errno stale before each), and leaves the socket open and able to send")
            let random = probe.random
            let (reader, address) = try Peer.server("reader", host: Lesson03Support.loopbackHost(random), transcript: probe.transcript, script: [.receiveUntilClosed(seconds: 4)])
            defer { reader.stop() }
            let sender = try HarnessSocket.connect(to: address)
            let pieces = [random.bytes(1), [], random.bytes(random.int(in: 65_536...262_144))]
            var expected: [UInt8] = []
            for piece in pieces {
                let before = Inspect.identity(sender.fd)
                let flags = Lesson03Support.statusFlags(sender.fd)
                let outcome = try probe.attempt("sendAll(_:_:) with \(piece.count) bytes", seconds: 4, unblock: { try? sender.shutdown(ShutdownHow.both) }, blockedHint: .sendAllHealthy) {
                    ErrorInputs.leaveStaleErrno(random)
                    return try sendAll(sender.fd, piece)
                }
                guard Inspect.identity(sender.fd) == before else {
                    throw probe.fail(expected: "the caller's socket (fd \(sender.fd)) still open after sendAll returns", actual: "after sendAll(\(piece.count) bytes): \(Inspect.describe(sender.fd))", hint: .sendAllCloses)
                }
                if case .failure(let error) = outcome {
                    let code = (error as? SocketError)?.code
                    let hint: Hint = piece.isEmpty ? .sendAllEmpty : (!expected.isEmpty && code == EPIPE) ? .sendAllShutsDown : .sendAllHealthy
                    throw probe.fail(expected: "sendAll to return after sending all \(piece.count) bytes", actual: "it threw \(error) (the reader had \(reader.received.count) of the \(expected.count) bytes sent before)", hint: hint)
                }
                guard Lesson03Support.statusFlags(sender.fd) == flags else {
                    throw probe.fail(expected: "the socket's file status flags unchanged (\(String(flags ?? 0, radix: 16)))", actual: "after sendAll they are \(String(Lesson03Support.statusFlags(sender.fd) ?? 0, radix: 16))", hint: .sendAllChangesFlags)
                }
                expected += piece
            }
            // The socket must still be able to send: the harness sends a byte on it itself.
            let marker: [UInt8] = [0x2a]
            let sent = marker.withUnsafeBytes { send(sender.fd, $0.baseAddress, 1, sendNoSignal) }
            guard sent == 1 else {
                let failure = SocketError(call: "send")
                throw probe.fail(expected: "the socket still able to send after sendAll returned", actual: "the harness's own send of 1 byte on it failed: \(failure)", hint: .sendAllShutsDown)
            }
            reader.note("sendAll returned 3 times; the harness sent 1 byte (0x2a) on your socket itself, then shut down its sending side")
            expected += marker
            try sender.shutdown(ShutdownHow.write)
            reader.wait(seconds: 4)
            let received = reader.received
            if let difference = difference(expected: expected, actual: received) {
                throw probe.fail(
                    expected: "\(expected.count) bytes: 1, then none, then \(pieces[2].count), then the harness's 0x2a; digest \(digest(expected))",
                    actual: "\(difference); digest \(digest(received))", hint: Lesson03Support.sendDifferenceHint(expected: expected, actual: received))
            }
        }
    }

    // Row 8: send takes only part of a large payload when the peer is slow; everything must
    // arrive, and the wait for room must wait (poll), not spin. The two sockets are served at
    // once (each transfer mostly waits); their results are judged in a fixed order.
    func test8_sendAllSendsEveryByteThroughShortWrites() throws {
        try grade {
            let probe = Probe("sendAll(_:_:) delivers megabytes to a slow reader (a blocking socket with a send timeout, a non-blocking socket), every byte in order, waiting for room without spinning")
            let random = probe.random
            var cases: [@Sendable () throws -> Void] = []
            for mode in [SendMode.sendTimeout, .nonBlocking] {
                let size = (4 << 20) - random.int(in: 0...65_535)
                // The non-blocking case starts with the reader asleep: the buffers fill at once
                // and sendAll has nothing to do but wait. A loop that spins shows in its CPU time.
                let pause = mode == .nonBlocking ? Double(random.int(in: 80...150)) / 1000 : 0
                cases.append { try Self.sendThroughShortWrites(mode, size: size, pause: pause, probe: probe) }
            }
            try Lesson03Support.runConcurrently(cases)
        }
    }

    // Text goes out as UTF-8 bytes, all of them: multi-byte characters, emoji made of several
    // scalars, "\r", a NUL, the empty string, and a text long enough for short writes.
    func test9_sendTextSendsEveryUTF8Byte() throws {
        try grade {
            let probe = Probe("sendText(_:_:) sends every UTF-8 byte of its text: Chinese and accents, emoji, \"\\r\", a NUL inside, the empty string, and a long text through short writes")
            let random = probe.random
            let texts = ["你好, socket! ünïcödé\n", "👋🏽 café 👨‍👩‍👧‍👦 🇺🇦\r\n", "", "nul\u{0}inside \u{0}twice\n"]
            for text in texts {
                let bytes = Array(text.utf8)
                let (reader, address) = try Peer.server("reader", transcript: probe.transcript, script: [.receiveUntilClosed(seconds: 4)])
                defer { reader.stop() }
                let sender = try HarnessSocket.connect(to: address)
                try probe.call("sendText(_:_:) with \(escaped(bytes)) (\(text.count) Characters, \(bytes.count) bytes)", blockedHint: .sendAllHealthy, errorHint: { _ in text.isEmpty ? .sendAllEmpty : .sendAllHealthy }) {
                    try sendText(sender.fd, text)
                }
                try sender.shutdown(ShutdownHow.write)
                reader.wait(seconds: 4)
                if let difference = difference(expected: bytes, actual: reader.received) {
                    throw probe.fail(expected: "\(bytes.count) bytes \(escaped(bytes))", actual: difference, hint: Self.textHint(text, received: reader.received, shortWrites: false))
                }
            }
            // A long text on a non-blocking socket with a slow reader: sendText must loop too.
            let pieces = ["你好", "ü", "👨‍👩‍👧‍👦", "socket ", "\r\n", "é", "🇺🇦", "a"]
            var parts: [String] = []
            var length = 0
            let target = random.int(in: 400_000...600_000)
            while length < target {
                let piece = random.pick(pieces)
                parts.append(piece)
                length += piece.utf8.count
            }
            let long = parts.joined()
            let bytes = Array(long.utf8)
            let (reader, address) = try Peer.server("slow reader", transcript: probe.transcript, script: [
                .receiveBuffer(32768), .pause(0.05), .drain(chunk: 16384, gap: 0.001, seconds: 10),
            ])
            defer { reader.stop() }
            let sender = try HarnessSocket.connect(to: address)
            try sender.setOption(SOL_SOCKET, SO_SNDBUF, 32768, "SO_SNDBUF")
            try SendMode.nonBlocking.apply(to: sender.fd)
            try probe.call(
                "sendText(_:_:) with \(long.count) Characters, \(bytes.count) bytes (a non-blocking socket)", seconds: 5,
                unblock: { try? sender.shutdown(ShutdownHow.both) }, blockedHint: .sendAllWait,
                errorHint: { error in ((error as? SocketError)?.code).map { $0 == EAGAIN || $0 == EWOULDBLOCK } == true ? .sendAgain : .sendAllHealthy }
            ) {
                try sendText(sender.fd, long)
            }
            reader.note("sendText returned; the harness shut down the sending side of your socket")
            try sender.shutdown(ShutdownHow.write)
            reader.wait(seconds: 10)
            let received = reader.received
            if let difference = difference(expected: bytes, actual: received) {
                throw probe.fail(
                    expected: "\(bytes.count) bytes, digest \(digest(bytes))", actual: "\(difference); digest \(digest(received))",
                    hint: Self.textHint(long, received: received, shortWrites: true))
            }
        }
    }

    /// 4 MiB of bytes that differ from their neighbours, so a resent or skipped piece shows
    /// up. Made once, with a plain loop (a `map` over 4 million numbers is slow in a debug build).
    static let payload: [UInt8] = [UInt8](unsafeUninitializedCapacity: 4 << 20) { buffer, count in
        for index in 0..<buffer.count { buffer[index] = UInt8(truncatingIfNeeded: index &* 31 &+ (index >> 11)) }
        count = buffer.count
    }

    static func milliseconds(_ seconds: Double) -> String {
        "\(Int((seconds * 1000).rounded())) ms"
    }
}

// MARK: - What the checks observe

extension Lesson03ConnectGrader {
    /// openConnection threw while a server listened at the address: why, from what happened.
    static func openFailureHint(_ error: any Error, serverAccepted: Bool) -> Hint {
        // The server got the connection, so connect succeeded: the throw came from a stale errno.
        if serverAccepted { return .connectErrnoNotResult }
        if let failure = error as? SocketError, failure.call.hasPrefix("inet_pton") { return .connectSockaddrFamily }
        switch (error as? SocketError)?.code {
        case EAFNOSUPPORT?, EINVAL?: return .addressFamily
        case ECONNREFUSED?: return .openWrongAddress
        case EINPROGRESS?, EAGAIN?, EALREADY?: return .openNonBlocking
        default: return .openSteps
        }
    }

    /// A socket openConnection returned where it should have thrown: what kind it is.
    static func unconnectedHint(_ fd: Int32) -> Hint? {
        if Inspect.isSocket(fd), let type = try? Inspect.type(fd), type != .stream { return .openSocketType }
        if let flags = Lesson03Support.statusFlags(fd), flags & O_NONBLOCK != 0 { return .openNonBlocking }
        return nil
    }

    /// The socket openConnection returned: a TCP socket of the address's family, connected
    /// to exactly that address, in blocking mode as socket() made it.
    static func expectConnected(_ fd: Int32, to address: SocketAddress, probe: Probe) throws {
        let expected = "a blocking TCP (\(address.family)) socket connected to \(address)"
        // A socket closed before it was returned: its number may already name a harness socket.
        guard fd < 0 || !Inspect.isHarnessOwned(fd) else {
            throw probe.fail(expected: expected, actual: "it returned descriptor \(fd), which had been closed: the number now names one of the harness's sockets", hint: .openReturnedClosed)
        }
        guard Inspect.isSocket(fd) else {
            let closed = fd >= 0 && !Inspect.isOpen(fd)
            throw probe.fail(expected: expected, actual: "it returned \(Inspect.describe(fd))", hint: closed ? .openReturnedClosed : .returnTheDescriptor)
        }
        guard (try? Inspect.type(fd)) == .stream else {
            throw probe.fail(expected: expected, actual: "it returned \(Inspect.describe(fd))", hint: .openSocketType)
        }
        guard (try? Inspect.family(fd)) == address.family else {
            throw probe.fail(expected: expected, actual: "it returned \(Inspect.describe(fd)) (\((try? Inspect.family(fd)).map { "\($0)" } ?? "?"))", hint: .addressFamily)
        }
        let nonBlocking = (Lesson03Support.statusFlags(fd) ?? 0) & O_NONBLOCK != 0
        guard let peer = try? Inspect.peerAddress(fd), peer == address else {
            let connected = (try? Inspect.peerAddress(fd)) != nil
            throw probe.fail(
                expected: expected, actual: "it returned \(Inspect.describe(fd))",
                hint: connected ? .openWrongAddress : nonBlocking ? .openNonBlocking : .uncheckedResult("connect"))
        }
        guard !nonBlocking else {
            throw probe.fail(expected: expected, actual: "it returned \(Inspect.describe(fd)), in non-blocking mode (O_NONBLOCK set)", hint: .openNonBlocking)
        }
    }

    /// Calls connectEx on `fd` (errno stale before it) and checks it returned `code` as a value,
    /// left `fd` open as it was, and, for 0, connected `fd` itself to `address`.
    static func expectConnectEx(_ fd: Int32, to address: SocketAddress, returns code: Int32, for situation: String, probe: Probe) throws {
        let random = probe.random
        let before = Inspect.identity(fd)
        let outcome = try probe.attempt(
            "connectEx(\(fd), to: \(address)) for \(situation)", blockedHint: .connectExBlocks,
            leakHint: { _, _ in .connectExOwnSocket }
        ) {
            ErrorInputs.leaveStaleErrno(random)
            return try connectEx(fd, to: address)
        }
        let wanted = code == 0 ? "the value 0, and fd \(fd) connected to \(address)" : "the value \(errnoName(code)) (\(code))"
        let value: Int32
        switch outcome {
        case .failure(let error):
            // A valid address that the answer could not convert: it only knows one family.
            let code = (error as? SocketError)?.code
            let family = fd >= 0 && Inspect.isSocket(fd) && (code == EAFNOSUPPORT || code == EINVAL)
            throw probe.fail(expected: wanted, actual: "it threw \(error)", hint: family ? .connectSockaddrFamily : .connectExThrows)
        case .success(let returned):
            value = returned
        }
        guard Inspect.identity(fd) == before else {
            throw probe.fail(
                expected: "\(wanted); the caller's descriptor left open", actual: "it returned \(value); after it, \(Inspect.describe(fd))",
                hint: .connectExCloses)
        }
        let connected = (try? Inspect.peerAddress(fd)) == address
        if value == code {
            guard code != 0 || connected else {
                throw probe.fail(expected: wanted, actual: "it returned 0, but fd \(fd) is \(Inspect.describe(fd))", hint: .connectExOwnSocket)
            }
            return
        }
        let shown = value == -1 ? "-1 (connect's own return value)" : value == 0 ? "0" : "\(value) (\(value > 0 ? errnoName(value) : "negative"))"
        let hint: Hint
        switch (code, value) {
        case (_, EINPROGRESS), (_, EALREADY):
            hint = .openNonBlocking
        case (_, -1):
            hint = .connectExErrno
        case (_, -code) where code != 0:
            hint = .connectExErrno
        case (0, _) where connected:
            hint = .connectErrnoNotResult
        case (0, ECONNREFUSED):
            hint = .openWrongAddress
        case (0, EAFNOSUPPORT), (0, EINVAL):
            hint = .connectSockaddrFamily
        case (0, _):
            hint = .connectExErrno
        case (_, 0):
            hint = .uncheckedResult("connect")
        case (_, ECONNREFUSED):
            hint = .connectExFixedCode
        case (ECONNREFUSED, EAFNOSUPPORT), (ECONNREFUSED, EINVAL):
            hint = .connectSockaddrFamily
        default:
            hint = .errnoLate
        }
        throw probe.fail(expected: wanted, actual: "it returned \(shown)", hint: hint)
    }

    /// Runs `arguments` in a child process (Lesson03Child) and judges the learner's sendAll from its report.
    static func judgeChild(
        _ arguments: [String], situation: String, codes: [Int32], callMustBeSend: Bool, descriptorStays: Bool, probe: Probe,
        note: (String) -> Void
    ) throws {
        let (ending, line, output) = try Lesson03Child.start(arguments, seconds: 6)
        let report = ChildSendReport(line)
        switch (ending, report?.outcome) {
        case (.exited(0), .threwSocketError(let call, let code)?):
            note("sendAll threw \(SocketError(call: call, code: code)); the descriptor afterwards: \(report!.descriptor)")
        case (.exited(0), _):
            note("sendAll \(line)")
        default:
            note("the child process \(ending)")
        }
        let names = codes.map(errnoName).joined(separator: " or ")
        let expected = "sendAll on \(situation) to throw SocketError with \(names)" + (descriptorStays ? ", leaving the descriptor open" : "")
        switch ending {
        case .exited(3):
            throw NotStarted(fileID: "Lesson03/Client.swift", function: "sendAll(_:_:)")
        case .killedBy(SIGPIPE):
            throw probe.fail(expected: expected, actual: "the process \(ending)", hint: .sigpipe)
        case .killedBy(let signal):
            throw probe.fail(expected: expected, actual: "the process \(ending)\(signal == SIGILL || signal == SIGTRAP ? ": a Swift trap" : "")\n          \(output.split(separator: "\n").filter { $0.contains("Fatal error") }.prefix(2).joined(separator: "\n          "))", hint: .sendAllMinusOne)
        case .exited(4):
            throw probe.fail(expected: expected, actual: "sendAll was \(line) after 2 s", hint: line.contains("spinning") ? .sendAllKeepsGoing : .sendAllErrorIgnored)
        case .timedOut:
            throw probe.fail(expected: expected, actual: "the child process \(ending)", hint: .sendAllKeepsGoing)
        case .exited(0):
            guard let report else { break }
            switch report.outcome {
            case .returned:
                throw probe.fail(expected: expected, actual: "it returned without throwing", hint: .sendAllErrorIgnored)
            case .threwOther(let what):
                throw probe.fail(expected: expected, actual: "it threw \(what)", hint: .sendAllErrorType)
            case .threwSocketError(let call, let code):
                let error = SocketError(call: call, code: code)
                guard codes.contains(code) else {
                    throw probe.fail(expected: expected, actual: "it threw \(error)", hint: .errnoLate)
                }
                guard !callMustBeSend || Lesson03Support.isSendCall(call) else {
                    throw probe.fail(expected: expected + " from send()", actual: "it threw \(error)", hint: .sendAllErrorCall)
                }
                guard !descriptorStays || report.descriptor == "same" else {
                    throw probe.fail(expected: expected, actual: "it threw \(error), and the descriptor was \(report.descriptor) afterwards", hint: .sendAllCloses)
                }
                return
            }
        default:
            break
        }
        throw probe.fail(expected: expected, actual: "the child process \(ending): \(output)", hint: .harnessDisturbed)
    }

    /// One transfer of `size` bytes of `payload` to a slow reader through `mode`'s short writes.
    fileprivate static func sendThroughShortWrites(_ mode: SendMode, size: Int, pause: Double, probe: Probe) throws {
        let payload = Array(Self.payload.prefix(size))
        let (reader, address) = try Peer.server("slow reader", transcript: probe.transcript, script: [
            // Measured on loopback: below about 16 KB the window stalls and the kernel's
            // persist timer makes it crawl; 32 KB still gives about 130 short writes.
            .receiveBuffer(32768), .pause(pause), .drain(chunk: 16384, gap: 0.001, seconds: 10),
        ])
        defer { reader.stop() }
        let sender = try HarnessSocket.connect(to: address)
        try sender.setOption(SOL_SOCKET, SO_SNDBUF, 32768, "SO_SNDBUF")
        try mode.apply(to: sender.fd)
        let before = Inspect.identity(sender.fd)
        let flags = Lesson03Support.statusFlags(sender.fd)
        let measured = try probe.measure(
            "sendAll(_:_:) with \(payload.count) bytes (\(mode.description))", seconds: 5,
            unblock: { try? sender.shutdown(ShutdownHow.both) }, blockedHint: .sendAllWait, spinningHint: .sendAllSpins
        ) {
            try sendAll(sender.fd, payload)
        }
        guard Inspect.identity(sender.fd) == before else {
            throw probe.fail(expected: "the caller's socket (fd \(sender.fd)) still open after sendAll", actual: "after sendAll: \(Inspect.describe(sender.fd))", hint: .sendAllCloses)
        }
        let flagsAfter = Lesson03Support.statusFlags(sender.fd)
        // End-of-file: the reader stops at what it got.
        reader.note((pause > 0 ? "the reader slept \(Int(pause * 1000)) ms before its first read; " : "") + "sendAll (\(mode.description)) ended after \(milliseconds(measured.seconds)) (\(milliseconds(measured.cpuSeconds)) of processor time); the harness shut down the sending side of your socket")
        try sender.shutdown(ShutdownHow.write)
        reader.wait(seconds: 10)
        let received = reader.received
        if case .failure(let error) = measured.result {
            let eagain = (error as? SocketError).map { $0.code == EAGAIN || $0.code == EWOULDBLOCK } ?? false
            throw probe.fail(
                expected: "sendAll to return after writing all \(payload.count) bytes (\(mode.description))",
                actual: "it threw \(error) after the reader had \(received.count) bytes",
                hint: eagain ? .sendAgain : .sendAllHealthy)
        }
        if let difference = difference(expected: payload, actual: received) {
            throw probe.fail(
                expected: "\(payload.count) bytes, digest \(digest(payload)) (\(mode.description))",
                actual: "\(difference); digest \(digest(received))",
                hint: Lesson03Support.sendDifferenceHint(expected: payload, actual: received))
        }
        guard flagsAfter == flags else {
            throw probe.fail(expected: "the socket's file status flags unchanged (\(String(flags ?? 0, radix: 16)), \(mode.description))", actual: "after sendAll they are \(String(flagsAfter ?? 0, radix: 16))", hint: .sendAllChangesFlags)
        }
        // A waiting loop uses a few percent of the processor; a spinning one all it gets.
        // Measured here: about 3 ms of processor time in 0.3-0.5 s for a loop that polls
        // (1 %); a spinning loop used 40 % with other builds running on both cores.
        if measured.cpuSeconds > 0.04 && measured.cpuSeconds > 0.12 * measured.seconds {
            throw probe.fail(
                expected: "sendAll to wait for room (\(pause > 0 ? "the reader slept \(Int(pause * 1000)) ms, then read slowly" : "the reader read slowly"); \(mode.description)) using little processor time",
                actual: "it took \(milliseconds(measured.seconds)) and used \(milliseconds(measured.cpuSeconds)) of processor time: it spun, retrying send without waiting",
                hint: .sendAllSpins)
        }
    }

    /// Text bytes that came wrong: why, from what came. With `shortWrites`, the socket took
    /// only part of each send, so a clean prefix means a single send.
    static func textHint(_ text: String, received: [UInt8], shortWrites: Bool) -> Hint {
        let bytes = Array(text.utf8)
        let prefix = received.count < bytes.count && Array(bytes.prefix(received.count)) == received
        if prefix && [text.count, text.unicodeScalars.count, text.utf16.count].contains(received.count) { return .utf8Length }
        if let nul = bytes.firstIndex(of: 0), received == Array(bytes[..<nul]) { return .sendTextNul }
        if prefix { return shortWrites ? .sendTextAll : .sendTextExact }
        // Through short writes, the small texts before have ruled out the text's own mistakes:
        // what is left is the send loop's.
        if shortWrites { return Lesson03Support.sendDifferenceHint(expected: bytes, actual: received) }
        if received.count > bytes.count && Array(received.prefix(bytes.count)) == bytes { return .sendTextExact }
        if [text.count, text.unicodeScalars.count, text.utf16.count].contains(received.count) { return .utf8Length }
        let trimmed = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        if received == trimmed || received.count < bytes.count && received.count >= trimmed.count && Array(received.prefix(trimmed.count)) == trimmed { return .sendTextExact }
        return .sendTextEncoding
    }
}

/// How the learner's socket is made to take only part of each write.
private enum SendMode: CustomStringConvertible, Sendable {
    case sendTimeout, nonBlocking

    var description: String {
        self == .sendTimeout ? "a blocking socket with a 50 ms send timeout" : "a non-blocking socket"
    }

    func apply(to fd: Int32) throws {
        switch self {
        case .sendTimeout:
            // Far shorter than the whole transfer takes, so one send cannot write it all.
            var timeout = timeval(tv_sec: 0, tv_usec: .init(50_000))
            guard setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
                throw SocketError(call: "setsockopt(SO_SNDTIMEO)")
            }
        case .nonBlocking:
            guard fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 else { throw SocketError(call: "fcntl") }
        }
    }
}

/// A port where nothing listens, held so that nobody else can start listening there: a
/// socket bound to it but never listening. Connecting there is refused at once.
struct ClosedPort {
    let holder: HarnessSocket
    let address: SocketAddress

    /// On `host`: 127.0.0.1 unless told, any 127.0.0.0/8 address, or ::1.
    init(host: String = "127.0.0.1") throws {
        let wanted: SocketAddress = host.contains(":") ? .ipv6(host: host, port: 0) : .ipv4(host: host, port: 0)
        let socket = try HarnessSocket.make(wanted.family)
        try wanted.withSockAddr { pointer, length in
            guard bind(socket.fd, pointer, length) == 0 else { throw SocketError(call: "bind") }
        }
        holder = socket
        address = try socket.localAddress
    }
}

extension Hint {
    static let addressFamily = Hint("address-family", "Create the socket in the address's own family: socket(address.family.rawValue, ...). An AF_INET socket cannot connect to an IPv6 address like ::1, nor AF_INET6 to 127.0.0.1 unless mapped.")
    static let connectExThrows = Hint("connect-ex-throws", "connect_ex reports every failed connect as a value, not an error: return errno (ECONNREFUSED, EISCONN, EBADF, ENOTSOCK, ...) instead of throwing, whatever the descriptor. Callers use it to try a port and move on. Only an address withSockAddr cannot convert may throw.")
    static let connectExErrno = Hint("connect-ex-errno", "Return 0 when connect returned 0, and errno (read at once, as it is: a positive number) when it returned -1. The -1 itself says nothing about why.")
    static let sendOnce = Hint("send-once", "send() returns how many bytes it took, which can be fewer than you gave it: here the reader was slow and the buffers were full. Loop until the total sent equals the length, as Python's sendall does.")
    static let sendOffset = Hint("send-offset", "After a partial send, carry on from where it stopped: pass the base address plus the bytes sent so far, and the length minus them. Starting again from the beginning sends some bytes twice.")
    static let sendAgain = Hint("send-again", "EAGAIN (EWOULDBLOCK) means the send buffer is full right now, not that the connection failed: wait until the socket is writable (poll with POLLOUT), then send the rest.")
    static let utf8Length = Hint("utf8-length", "Send the UTF-8 bytes: Array(text.utf8). text.count counts Characters (and utf16 / unicodeScalars count other units); \"你好\" is 2 Characters but 6 bytes, so a length of text.count cuts the message short.")
    static let sigpipe = Hint("sigpipe", "Writing to a connection the peer has reset raises SIGPIPE, which kills a Swift program on the spot (exit status 141). Pass sendNoSignal (MSG_NOSIGNAL on Linux) as send's flags; then send returns -1 with EPIPE, and you can throw. On macOS set SO_NOSIGPIPE on the socket once (suppressSIGPIPE(on:)).")

    // openConnection
    static let openSocketType = Hint("open-socket-type", "openConnection opens a TCP connection: socket(address.family.rawValue, SocketType.stream.rawValue, 0). A datagram (UDP) socket 'connects' to any address without asking anyone, so nothing is refused and no server sees you.")
    static let openWrongAddress = Hint("open-wrong-address", "Connect to exactly the address you were given: `try address.withSockAddr { connect(fd, $0, $1) }` builds the right sockaddr (host and port, in network byte order). A fixed 127.0.0.1 (INADDR_LOOPBACK) or a port without .bigEndian reaches some other place: the harness listened only where the address said, on a 127.0.0.0/8 address other than 127.0.0.1.")
    static let openNonBlocking = Hint("open-nonblocking", "A non-blocking connect returns -1 with EINPROGRESS and finishes later. Either connect on the blocking socket socket() gave you, or wait with poll for POLLOUT, read SO_ERROR (0 means connected, else it is the error to throw) and clear O_NONBLOCK again before you return the socket: callers expect a blocking one.")
    static let connectSockaddrFamily = Hint("sockaddr-family", "Let the address build its own sockaddr: `try address.withSockAddr { pointer, length in connect(fd, pointer, length) }` lends a sockaddr_in for IPv4 and a sockaddr_in6 for IPv6 (::1), with the right length. A sockaddr_in filled in by hand cannot hold an IPv6 address.")
    static let openBlocks = Hint("open-blocks", "On loopback connect answers at once: connected, or refused (ECONNREFUSED). openConnection must return or throw right then: no retrying, no waiting for a server to appear.")
    static let openReturnedClosed = Hint("open-returned-closed", "The descriptor you returned was already closed: a `defer { close(fd) }` runs on success too. Close the socket only on the error path (in the catch), and hand the open one to the caller.")
    static let openSteps = Hint("open-connection", "With a server listening at the address, openConnection must succeed: socket(address.family.rawValue, SocketType.stream.rawValue, 0), checked; then connect inside address.withSockAddr, checked by its return value; return the descriptor.")
    static let openBadHost = Hint("open-bad-host", "A host that is not an address must make openConnection throw, with nothing left open: address.withSockAddr throws for it, so don't swallow that (no try?, no ignored inet_pton result), and close the socket you already made before the error leaves the function (do/catch around every step after socket()).")
    static let connectErrnoNotResult = Hint("errno-not-result", "Decide by the call's return value, not by errno: connect returns 0 on success and -1 on failure, and only after a -1 does errno mean anything. Here connect succeeded (the server had your connection), but errno still held a value left by an earlier call.")

    // connectEx
    static let connectExCloses = Hint("connect-ex-closes", "connectEx connects the caller's socket and must leave it open, failed or not: the caller owns it and closes it (or tries again). Don't close it, and don't swap in a socket of your own.")
    static let connectExOwnSocket = Hint("connect-ex-own-socket", "Connect the descriptor you were given: connect(fd, pointer, length). A new socket of your own leaves the caller's socket unconnected (and leaks yours).")
    static let connectExFixedCode = Hint("connect-ex-fixed-code", "Return errno itself, not a fixed ECONNREFUSED: connect fails for other reasons too (EISCONN, EBADF, ENOTSOCK, ETIMEDOUT, ...), and the caller needs to know which.")
    static let connectExBlocks = Hint("connect-ex-blocks", "connectEx returns as soon as connect does: on loopback that is at once, connected or refused, and a descriptor that is closed, connected or not a socket fails at once too. Don't retry or wait.")
    static let connectExBadAddress = Hint("connect-ex-bad-address", "connectEx throws for an address that cannot become a sockaddr: let the error from address.withSockAddr propagate (try, not try?), and don't connect anywhere. A failed connect is a value; an address that does not parse is an error.")

    // sendAll
    static let sendAllCloses = Hint("send-all-closes", "sendAll writes on the caller's socket and must leave it open, whether it returns or throws: the caller owns it, may send more on it, and closes it once. Don't close it (no defer { close(fd) }).")
    static let sendAllShutsDown = Hint("send-all-shutdown", "Don't shut down the socket in sendAll: after it returns, the caller may send more on the same connection. shutdown(SHUT_WR) belongs to whoever decides the conversation is over (lesson 4).")
    static let sendAllChangesFlags = Hint("send-all-flags", "Leave the socket's mode as the caller set it: if you switch O_NONBLOCK on or off to send, put the flags back as they were (read them with fcntl(fd, F_GETFL) first) before you return.")
    static let sendAllEmpty = Hint("empty-payload", "Sending nothing is not an error: with 0 bytes, sendAll (and sendText of \"\") returns at once without throwing. A loop `while sent < bytes.count` does that by itself.")
    static let sendAllHealthy = Hint("send-all-error", "On a healthy, connected socket sendAll must return after writing every byte: retry on EINTR, wait with poll(POLLOUT) on EAGAIN/EWOULDBLOCK, and throw SocketError(call: \"send\") only for other errors.")
    static let sendAllSpins = Hint("send-spins", "While the send buffer is full, wait: poll(&entry, 1, timeout) with POLLOUT sleeps until there is room. Calling send again at once (or poll with a 0 timeout) spins: the loop burns a whole processor core doing nothing useful.")
    static let sendAllWait = Hint("send-wait", "sendAll was still waiting while the reader had room for more: wait for room with poll for POLLOUT (writable), not POLLIN (readable: this reader never sends anything) and not a fixed sleep, and send again as soon as poll says so.")
    static let sendAllMinusOne = Hint("send-minus-one", "send returned -1 and your loop used it as a count of bytes sent (`sent += written`): it goes backwards, resends a byte, and never ends (or traps on a negative index). Check for -1 first: retry on EINTR, poll on EAGAIN, otherwise throw SocketError(call: \"send\").")
    static let sendAllKeepsGoing = Hint("send-keeps-going", "send returned -1 and sendAll went on trying, for ever: either it used -1 as a count of bytes sent (`sent += written` moves the loop backwards), or it retried an error that never clears. EPIPE, ECONNRESET, EBADF and ENOTSOCK are final: throw SocketError(call: \"send\"). Only EINTR (again) and EAGAIN (poll, then again) are worth another try.")
    static let sendAllErrorIgnored = Hint("send-error-ignored", "send returned -1 (the peer reset the connection: EPIPE or ECONNRESET; or the descriptor is not an open socket: EBADF, ENOTSOCK) and sendAll did not throw. The caller must hear that the bytes did not go: throw SocketError(call: \"send\") straight after the -1.")
    static let sendAllErrorType = Hint("send-error-type", "Throw SocketError(call: \"send\") right after send returned -1: it reads errno (EPIPE, ECONNRESET, ...), which the caller needs to decide what to do.")
    static let sendAllErrorCall = Hint("send-error-call", "Name the call that failed: SocketError(call: \"send\") (or \"write\", \"sendmsg\" if that is what you called), created right after it returned -1.")

    // sendText
    static let sendTextNul = Hint("text-nul", "A Swift String may contain NUL (\\0) characters, and they are text too. strlen / withCString stop at the first one: send Array(text.utf8), every byte.")
    static let sendTextExact = Hint("text-exact", "Send exactly the text's UTF-8 bytes, nothing added and nothing removed: not the terminating NUL that withCString / utf8CString add for C, not a newline of your own, no trimming of spaces, \"\\r\" or \"\\n\". Array(text.utf8) is exactly the text.")
    static let sendTextEncoding = Hint("text-encoding", "Encode the text as UTF-8: Array(text.utf8). Another encoding (UTF-16, one byte per scalar, Latin-1, ...) gives other bytes, and the reader decodes garbage.")
    static let sendTextAll = Hint("text-send-all", "sendText must send every byte too, however many calls that takes: hand Array(text.utf8) to your sendAll rather than calling send once.")
}
