import GradingHarness
import Lesson06
import SocketKit
import XCTest

/// Grades Exercises/Lesson06/Options.swift. Checklist rows 3, 16, 22 to 26. Every option
/// is read back from the kernel; what the learner's functions return is never taken on trust.
final class Lesson06OptionsGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(6)
    }

    // Rows 22 and 25: each flag lands on its own level, and can be turned off again.
    func test1_flagOptionsAreSetAndCleared() throws {
        try grade {
            typealias Setter = @Sendable (Int32, Bool) throws -> Void
            let flags: [(String, Setter, Int32, Int32, String)] = [
                ("setReuseAddress(_:_:)", { try setReuseAddress($0, $1) }, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR"),
                ("setKeepAlive(_:_:)", { try setKeepAlive($0, $1) }, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE"),
                ("setNoDelay(_:_:)", { try setNoDelay($0, $1) }, Int32(IPPROTO_TCP), TCP_NODELAY, "TCP_NODELAY"),
            ]
            for (function, setter, level, name, label) in flags {
                let probe = Probe("\(function) turns \(label) on and off (read back with getsockopt)")
                let socket = try HarnessSocket.make()
                for enabled in [true, false] {
                    // As non-root, the wrong level can fail outright (SO_DEBUG needs privileges).
                    try probe.call("\(function) with \(enabled)", errorHint: { _ in name == TCP_NODELAY ? .optionLevel : .optionValue }) {
                        try setter(socket.fd, enabled)
                    }
                    let actual = try Inspect.intOption(socket.fd, level, name, label) != 0
                    guard actual == enabled else {
                        let wrongLevel = name == TCP_NODELAY && enabled
                        throw probe.fail(
                            expected: "\(label) \(enabled ? "on" : "off") at level \(level == SOL_SOCKET ? "SOL_SOCKET" : "IPPROTO_TCP")",
                            actual: "it reads back \(actual ? "on" : "off")",
                            hint: wrongLevel ? .optionLevel : .optionValue)
                    }
                }
            }
        }
    }

    // The kernel chooses buffer sizes; the function reports what it chose.
    func test2_bufferSizesAreReadBack() throws {
        try grade {
            let probe = Probe("setBufferSizes(_:receive: 32768, send: 65536) returns the sizes the kernel chose")
            let socket = try HarnessSocket.make()
            let returned = try probe.call("setBufferSizes(_:receive:send:)") { try setBufferSizes(socket.fd, receive: 32768, send: 65536) }
            let actual = (try Inspect.intOption(socket.fd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"), try Inspect.intOption(socket.fd, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"))
            guard actual.0 >= 32768, actual.1 >= 65536 else {
                throw probe.fail(expected: "SO_RCVBUF at least 32768 and SO_SNDBUF at least 65536", actual: "SO_RCVBUF \(actual.0), SO_SNDBUF \(actual.1)", hint: .optionValue)
            }
            guard returned == actual else {
                throw probe.fail(expected: "(receive: \(actual.0), send: \(actual.1)), as getsockopt reads them", actual: "\(returned)", hint: .readBackSize)
            }
        }
    }

    // Row 16: settimeout sets both directions, gettimeout reads it back, and a silent peer
    // really ends a recv in time.
    func test3_timeoutsBoundBlockingCalls() throws {
        try grade {
            let probe = Probe("setTimeout(_:0.25) sets SO_RCVTIMEO and SO_SNDTIMEO; timeout(of:) reads 0.25; nil clears both")
            let (server, address) = try Peer.server("silent server", transcript: probe.transcript, script: [.receiveUntilClosed(seconds: 5)])
            defer { server.stop() }
            let socket = try HarnessSocket.connect(to: address)
            try probe.call("setTimeout(_:0.25)") { try setTimeout(socket.fd, 0.25) }
            // The kernel keeps timeouts in clock ticks (1 to 10 ms) and rounds up: 0.25 may
            // read back as 0.252.
            let tick = 0.011
            let set = (receive: try Self.timeoutOption(socket.fd, SO_RCVTIMEO), send: try Self.timeoutOption(socket.fd, SO_SNDTIMEO))
            let right = (receive: abs(set.receive - 0.25) < tick, send: abs(set.send - 0.25) < tick)
            guard right.receive && right.send else {
                // One right and the other untouched: only one direction was set.
                let oneSided = (right.receive && set.send == 0) || (right.send && set.receive == 0)
                throw probe.fail(
                    expected: "SO_RCVTIMEO and SO_SNDTIMEO 0.25 s", actual: "SO_RCVTIMEO \(set.receive) s, SO_SNDTIMEO \(set.send) s",
                    hint: oneSided ? .bothTimeouts : .timeval)
            }
            let read = try probe.call("timeout(of:)") { try timeout(of: socket.fd) }
            guard let read, abs(read - 0.25) < tick else {
                throw probe.fail(expected: "0.25", actual: "\(read.map(String.init(describing:)) ?? "nil")", hint: .timeval)
            }
            // The effect: a recv on the silent connection gives up after about 0.25 s.
            let started = Clock.now
            let waited = try Deadline.run("recv on the socket", unblock: { try? socket.shutdown(ShutdownHow.both) }) {
                var byte: UInt8 = 0
                return (recv(socket.fd, &byte, 1, 0), errno)
            }
            let took = Clock.now - started
            guard waited.0 == -1, waited.1 == EAGAIN || waited.1 == EWOULDBLOCK, took < 1 else {
                throw probe.fail(expected: "recv to fail with EAGAIN after about 0.25 s", actual: "recv returned \(waited.0) (\(errnoName(waited.1))) after \(Int(took * 1000)) ms", hint: .bothTimeouts)
            }
            try probe.call("setTimeout(_:nil)") { try setTimeout(socket.fd, nil) }
            let cleared = (try Self.timeoutOption(socket.fd, SO_RCVTIMEO), try Self.timeoutOption(socket.fd, SO_SNDTIMEO))
            let readNone = try probe.call("timeout(of:) after clearing") { try timeout(of: socket.fd) }
            guard cleared == (0, 0), readNone == nil else {
                throw probe.fail(expected: "both timeouts 0 and timeout(of:) nil", actual: "SO_RCVTIMEO \(cleared.0), SO_SNDTIMEO \(cleared.1), timeout(of:) \(String(describing: readNone))", hint: .timeval)
            }
        }
    }

    // Row 23: non-blocking mode, and EAGAIN as "nothing yet".
    func test4_nonBlockingReceiveSaysNothingYet() throws {
        try grade {
            let probe = Probe("setBlocking(_:false) sets O_NONBLOCK; receiveIfReady returns nil with nothing to read, then the data, then [] at end-of-file")
            let connection = try LearnerConnection.fromClient(probe, script: [.pause(0.3), .send(Array("data".utf8)), .pause(0.2), .close])
            defer { connection.finish() }
            let before = fcntl(connection.fd, F_GETFL)
            try probe.call("setBlocking(_:false)") { try setBlocking(connection.fd, false) }
            guard fcntl(connection.fd, F_GETFL) == before | O_NONBLOCK else {
                throw probe.fail(expected: "flags 0x\(String(before | O_NONBLOCK, radix: 16)) (O_NONBLOCK added, the rest kept)", actual: "flags 0x\(String(fcntl(connection.fd, F_GETFL), radix: 16))", hint: .nonBlocking)
            }
            let nothing = try probe.call("receiveIfReady(_:maxSize: 64) with nothing sent yet", seconds: 1, unblock: connection.unblock, blockedHint: .nonBlocking, errorHint: { _ in .eagain }) {
                try receiveIfReady(connection.fd, maxSize: 64)
            }
            guard nothing == nil else {
                throw probe.fail(expected: "nil: nothing has arrived yet", actual: "\(escaped(nothing!))", hint: .eagain)
            }
            guard Inspect.waitReadable(connection.fd, seconds: 2) else { throw SocketError(call: "poll", code: ETIMEDOUT) }
            let data = try probe.call("receiveIfReady(_:maxSize: 64) after \"data\" was sent", errorHint: { _ in .eagain }) {
                try receiveIfReady(connection.fd, maxSize: 64)
            }
            guard data == Array("data".utf8) else {
                throw probe.fail(expected: "\"data\"", actual: data.map { escaped($0) } ?? "nil", hint: .countReturned)
            }
            guard Inspect.waitReadable(connection.fd, seconds: 2) else { throw SocketError(call: "poll", code: ETIMEDOUT) }
            let end = try probe.call("receiveIfReady(_:maxSize: 64) after the peer closed", errorHint: { _ in .eagain }) {
                try receiveIfReady(connection.fd, maxSize: 64)
            }
            guard end == [] else {
                throw probe.fail(expected: "[]: end-of-file", actual: end.map { escaped($0) } ?? "nil (as if nothing had arrived yet)", hint: .recvZero)
            }
            try probe.call("setBlocking(_:true)") { try setBlocking(connection.fd, true) }
            guard fcntl(connection.fd, F_GETFL) == before else {
                throw probe.fail(expected: "flags 0x\(String(before, radix: 16)) again", actual: "flags 0x\(String(fcntl(connection.fd, F_GETFL), radix: 16))", hint: .nonBlocking)
            }
        }
    }

    // SO_ERROR, SO_ACCEPTCONN and getpeername tell what the kernel knows.
    func test5_questionsAboutASocket() throws {
        try grade {
            let probe = Probe("pendingError, isListening and peerAddress(of:) report what the kernel knows")
            let closed = try ClosedPort()
            let refused = try HarnessSocket.make()
            guard fcntl(refused.fd, F_SETFL, fcntl(refused.fd, F_GETFL) | O_NONBLOCK) == 0 else { throw SocketError(call: "fcntl") }
            _ = try closed.address.withSockAddr { connect(refused.fd, $0, $1) }
            _ = Inspect.waitWritable(refused.fd, seconds: 2)
            let first = try probe.call("pendingError(_:) after a refused connect") { try pendingError(refused.fd) }
            let second = try probe.call("pendingError(_:) again") { try pendingError(refused.fd) }
            guard first == ECONNREFUSED, second == 0 else {
                throw probe.fail(expected: "ECONNREFUSED, then 0 (reading SO_ERROR clears it)", actual: "\(errnoName(first)), then \(errnoName(second))", hint: .soError)
            }
            let listener = try HarnessSocket.listener()
            let plain = try HarnessSocket.make()
            let answers = (try probe.call("isListening(_:) on a listener") { try isListening(listener.fd) },
                           try probe.call("isListening(_:) on a new socket") { try isListening(plain.fd) })
            guard answers == (true, false) else {
                throw probe.fail(expected: "true for the listener, false for the new socket", actual: "\(answers.0), \(answers.1)", hint: .readBack)
            }
            let (server, address) = try Peer.server("server", host: "::1", transcript: probe.transcript, script: [.receiveUntilClosed(seconds: 2)])
            defer { server.stop() }
            let client = try HarnessSocket.connect(to: address)
            let peer = try probe.call("peerAddress(of:)") { try peerAddress(of: client.fd) }
            guard peer == address else {
                throw probe.fail(expected: "\(address)", actual: "\(peer)", hint: .peerAddress)
            }
        }
    }

    // Rows 22 and 26: SO_REUSEADDR before bind, over IPv4 and IPv6.
    func test6_reusableListenerRestartsOnItsPort() throws {
        try grade {
            for host in ["127.0.0.1", "::1"] {
                let asked: SocketAddress = host == "::1" ? .ipv6(host: host, port: 0) : .ipv4(host: host, port: 0)
                let probe = Probe("makeReusableListener(on: \(asked)) listens there, and can listen again while the port is in TIME_WAIT")
                let first = try probe.call(
                    "makeReusableListener(on: \(asked))", returns: { [$0] },
                    errorHint: { ($0 as? SocketError).map { $0.code == EAFNOSUPPORT || $0.code == EINVAL } == true ? .addressFamily : nil }
                ) {
                    try makeReusableListener(on: asked)
                }
                let address = try Inspect.localAddress(first)
                guard try Inspect.isListening(first), address.host == host else {
                    closeIfOpen(first)
                    throw probe.fail(expected: "a listener on \(host)", actual: Inspect.describe(first), hint: .addressFamily)
                }
                try leaveInTimeWait(first, at: address, probe: probe)
                let outcome = try probe.attempt("makeReusableListener(on: \(address)) again", returns: { [$0] }) {
                    try makeReusableListener(on: address)
                }
                switch outcome {
                case .success(let second):
                    closeIfOpen(second)
                case .failure(let error):
                    throw probe.fail(expected: "a new listener on \(address)", actual: "it threw \(error)", hint: .reuseAddress)
                }
            }
        }
    }

    // Rows 24, 3 and 26: connect with a timeout: refused, timed out, connected.
    func test7_connectWithATimeout() throws {
        try grade {
            let refusedProbe = Probe("openConnection(to:timeout: 1) to a closed port throws ECONNREFUSED (read from SO_ERROR) and leaves nothing open")
            let closed = try ClosedPort()
            let refused = try refusedProbe.attempt("openConnection(to: \(closed.address), timeout: 1)", returns: { [$0] }) {
                try openConnection(to: closed.address, timeout: 1)
            }
            try expectSocketError(refused, call: "connect", code: ECONNREFUSED, probe: refusedProbe, function: "openConnection(to:timeout:)", returnedHint: { _ in .soError })

            let slowProbe = Probe("openConnection(to:timeout: 0.3) to a server that never answers throws ETIMEDOUT after about 0.3 s")
            // A listener with a backlog of 0 and one waiting connection: the kernel drops the
            // next handshake, so that connect neither succeeds nor is refused.
            let full = try HarnessSocket.listener(backlog: 0)
            let filler = try HarnessSocket.connect(to: full.localAddress)
            defer { filler.close() }
            let started = Clock.now
            let timedOut = try slowProbe.attempt("openConnection(to: \(try full.localAddress), timeout: 0.3)", returns: { [$0] }, blockedHint: .connectTimeout) {
                try openConnection(to: try full.localAddress, timeout: 0.3)
            }
            let took = Clock.now - started
            try expectSocketError(timedOut, call: "connect", code: ETIMEDOUT, probe: slowProbe, function: "openConnection(to:timeout:)", returnedHint: { _ in .connectTimeout })
            guard took >= 0.25, took < 1.5 else {
                throw slowProbe.fail(expected: "about 0.3 s", actual: "\(Int(took * 1000)) ms", hint: .connectTimeout)
            }

            let okProbe = Probe("openConnection(to: [::1]:P, timeout: 1) connects, and hands back a blocking socket")
            let (server, address) = try Peer.server("server", host: "::1", transcript: okProbe.transcript, script: [.receiveUntilClosed(seconds: 2)])
            defer { server.stop() }
            let fd = try okProbe.call("openConnection(to: \(address), timeout: 1)", returns: { [$0] }, errorHint: { _ in .addressFamily }) {
                try openConnection(to: address, timeout: 1)
            }
            defer { closeIfOpen(fd) }
            guard (try? Inspect.peerAddress(fd)) == address else {
                throw okProbe.fail(expected: "a socket connected to \(address)", actual: Inspect.describe(fd), hint: .soError)
            }
            guard fcntl(fd, F_GETFL) & O_NONBLOCK == 0 else {
                throw okProbe.fail(expected: "a blocking socket", actual: "O_NONBLOCK is still set", hint: .restoreBlocking)
            }
        }
    }

    // Row 25: with TCP_NODELAY, a request written in two pieces gets its answer at once;
    // without it, Nagle's algorithm and the peer's delayed ACK add about 40 ms each time.
    func test8_noDelayMakesSmallRequestsFast() throws {
        try grade {
            let probe = Probe("after setNoDelay(_:true), 8 write-write-read round trips take under 20 ms each (median)")
            let rounds = 8
            let (server, address) = try Peer.server(
                "server", transcript: probe.transcript,
                script: Array(repeating: [PeerStep.receive(count: 10, seconds: 2), .send(Array("ok".utf8))], count: rounds).flatMap { $0 })
            defer { server.stop() }
            let client = try HarnessSocket.connect(to: address)
            try probe.call("setNoDelay(_:true)") { try setNoDelay(client.fd, true) }
            var times: [Double] = []
            for _ in 0..<rounds {
                let started = Clock.now
                try client.sendAll(Array("head!".utf8))
                try client.sendAll(Array("body!".utf8))
                guard try client.receive(limit: 2, seconds: 2)?.count == 2 else { throw SocketError(call: "recv", code: ETIMEDOUT) }
                times.append((Clock.now - started) * 1000)
            }
            let median = times.sorted()[rounds / 2]
            guard median < 20 else {
                throw probe.fail(
                    expected: "round trips well under 20 ms (a millisecond or less on loopback)",
                    actual: "median \(Int(median)) ms; each: \(times.map { "\(Int($0))" }.joined(separator: ", ")) ms",
                    hint: .nagle)
            }
        }
    }

    /// A timeout option (SO_RCVTIMEO / SO_SNDTIMEO) in seconds, read with getsockopt.
    static func timeoutOption(_ fd: Int32, _ name: Int32) throws -> Double {
        var time = timeval()
        var length = socklen_t(MemoryLayout<timeval>.size)
        guard getsockopt(fd, SOL_SOCKET, name, &time, &length) == 0 else { throw SocketError(call: "getsockopt") }
        return Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000
    }
}

extension Hint {
    static let optionLevel = Hint("option-level", "TCP_NODELAY is a TCP option: its level is IPPROTO_TCP, not SOL_SOCKET. On the wrong level the same number names another option (on Linux, SOL_SOCKET option 1 is SO_DEBUG), so the call may even succeed and change the wrong thing.")
    static let optionValue = Hint("option-value", "Pass 1 to turn an option on and 0 to turn it off, as an Int32 by pointer, with its size: setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)). Check the 0 / -1 it returns.")
    static let readBackSize = Hint("read-back-size", "The kernel does not take the size you ask for: Linux doubles it and clamps it. Read SO_RCVBUF and SO_SNDBUF back with getsockopt after setting them, and return those.")
    static let bothTimeouts = Hint("both-timeouts", "settimeout bounds both directions: set SO_RCVTIMEO and SO_SNDTIMEO. A receive timeout is what makes recv on a silent connection give up (with EAGAIN).")
    static let timeval = Hint("timeval", "A timeout is a timeval: whole seconds in tv_sec, the rest in microseconds in tv_usec (0.25 s is tv_sec 0, tv_usec 250000). All zeros means no timeout, which timeout(of:) reports as nil.")
    static let nonBlocking = Hint("non-blocking", "O_NONBLOCK is a flag of the descriptor, not a socket option: read the flags with fcntl(fd, F_GETFL), add or remove O_NONBLOCK, write them back with fcntl(fd, F_SETFL, flags), keeping the others.")
    static let eagain = Hint("eagain", "On a non-blocking socket, recv fails with EAGAIN (or EWOULDBLOCK) when nothing has arrived yet. That is not an error: return nil and let the caller try later.")
    static let soError = Hint("so-error", "After a non-blocking connect, poll saying \"writable\" only means the attempt has finished: it may have failed. Read SO_ERROR with getsockopt: 0 means connected, anything else is the reason (ECONNREFUSED...). Throw SocketError(call: \"connect\", code: thatError).")
    static let connectTimeout = Hint("connect-timeout", "A blocking connect to a peer that never answers waits for minutes. Make the socket non-blocking, call connect (EINPROGRESS), then poll for POLLOUT with your timeout; when poll returns 0, throw SocketError(call: \"connect\", code: ETIMEDOUT) and close the socket.")
    static let nagle = Hint("nagle", "Nagle's algorithm holds a small write back until the previous one is acknowledged, and the peer delays its ACK (about 40 ms) hoping to send it with an answer. For request/response with small writes, set TCP_NODELAY (level IPPROTO_TCP) to 1.")
    static let restoreBlocking = Hint("restore-blocking", "The non-blocking mode was only for the connect: set the socket back to blocking before you return it, or every later recv and send on it will fail with EAGAIN instead of waiting.")
}
