import Foundation
import GradingHarness
import Lesson04
import SocketKit
import XCTest

/// Grades Exercises/Lesson04/Receive.swift. Checklist rows 3 and 10 to 17, with the rules of
/// "How a check earns trust": every size the doc comments promise (0, 1, past 65,535), every
/// way a call can fail, short writes, timing bounds both ways, descriptors closed once.
final class Lesson04ReceiveGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(4)
    }

    // Row 10 (and 13): bytes that arrive one at a time are collected into the whole.
    func test1_receiveExactlyCollectsDrippedBytes() throws {
        try grade {
            let message = Array("hello, stream!".utf8)
            let probe = Probe("receiveExactly(_:count: \(message.count)) returns all \(message.count) bytes when they arrive one at a time")
            let gap = Double(probe.random.int(in: 3...6)) / 1000
            // The peer waits a moment before the first byte: meanwhile a signal interrupts the
            // learner's waiting recv (EINTR), twice.
            try withProvocations(probe, [.interrupted]) { on, probe in
                let interrupter = Interrupter()
                // Signals every 4 ms from the start of the learner's call, through a 100 ms wait
                // before the first byte: one of them must find it waiting in recv.
                let connection = try LearnerConnection.fromClient(probe, script: [.pause(0.1), .drip(message, gap: gap), .receiveUntilClosed(seconds: 3)])
                defer { connection.finish() }
                if on[0] { interrupter.interrupt(times: 12, every: 0.004, after: 0.004) }
                let got = try probe.call(
                    "receiveExactly(_:count:)", unblock: connection.unblock, blockedHint: .recvZero, errorHint: unexpectedErrorHint
                ) {
                    try interrupter.watch { try receiveExactly(connection.fd, count: message.count) }
                }
                try expectSameBytes(message, got, probe: probe, hints: receivedHints, otherwise: .recvOffset)
            }
        }
    }

    // Row 12: end-of-file in the middle of a message ends the call, with what had arrived:
    // after a few bytes, after none, and after more than 65,535. errno holds a stale EINTR or
    // EAGAIN before the call, as an earlier failed call would leave it.
    func test2_receiveExactlyStopsWhenThePeerCloses() throws {
        try grade {
            let probe = Probe("receiveExactly(_:count:) throws ConnectionClosed with exactly what had come when the peer closes: after 3 of 8 bytes, after none, after more than 65,535")
            let random = probe.random
            let big = random.int(in: 70_000...160_000)
            let bigSent = seededBytes(random.int(in: 65_536...(big - 1)), random)
            let cases: [(count: Int, sent: [[UInt8]])] = [
                (8, [Array("abc".utf8)]),
                (random.int(in: 2...40), []),
                (big, seededPieces(of: bigSent, count: random.int(in: 3...6), random: random)),
            ]
            for (number, (count, sent)) in cases.enumerated() {
                let stale = number == 1 ? EAGAIN : EINTR
                try withProvocations(probe, [.staleErrno(stale)]) { on, probe in
                    try closeMidMessage(probe, count: count, sent: sent, stale: on[0] ? stale : nil)
                }
            }
        }
    }

    private func closeMidMessage(_ probe: Probe, count: Int, sent: [[UInt8]], stale: Int32?) throws {
        let came = sent.flatMap { $0 }
        var script: [PeerStep] = []
        for piece in sent { script += [.send(piece), .pause(0.002)] }
        let connection = try LearnerConnection.fromClient(probe, script: script + [.close])
        defer { connection.finish() }
        let function = "receiveExactly(_:count: \(count)) (the peer closes after \(came.count) bytes)"
        let measured = try probe.measure(
            function, seconds: 1.5, unblock: connection.unblock, blockedHint: .recvZero, spinningHint: .recvZero
        ) {
            if let stale { errno = stale }
            return try receiveExactly(connection.fd, count: count)
        }
        let expected = "ConnectionClosed with the \(came.count) bytes that came, \(escaped(came))"
        switch measured.result {
        case .failure(let closed as ConnectionClosed):
            if closed.received != came {
                let shape = ByteShape(expected: came, actual: closed.received)
                let hint: Hint = [.trailingZeros, .zerosInside].contains(shape) ? .countReturned
                    : shape == .short ? .closedReceived : shape == .long ? .countReturned : .recvOffset
                throw probe.fail(
                    expected: expected,
                    actual: "ConnectionClosed with \(closed.received.count) bytes \(escaped(closed.received)): \(difference(expected: came, actual: closed.received) ?? "")",
                    hint: hint)
            }
        case .failure(let error):
            throw probe.fail(expected: expected, actual: "it threw \(type(of: error)): \(error)", hint: .recvZero)
        case .success(let bytes):
            throw probe.fail(expected: expected, actual: "it returned \(bytes.count) bytes \(escaped(bytes))", hint: .recvZero)
        }
        try expectStillOpen(connection.isStillOpen, fd: connection.fd, probe: probe, function: "receiveExactly(_:count:)")
    }

    // Row 11: a length prefix split across writes, and two messages in one write.
    func test3_receiveMessageHandlesSplitAndCoalescedMessages() throws {
        try grade {
            let probe = Probe("receiveMessage(_:) reads a length prefix that arrives in two pieces, then two messages sent in one write")
            let first = Array("hello".utf8), second = Array("world, again".utf8)
            let connection = try LearnerConnection.fromClient(probe, script: [
                .send([0, 0]), .pause(0.02), .send([0, UInt8(first.count)] + first),
                .pause(0.02), .send(lengthPrefixed(second) + lengthPrefixed(first)),
                .receiveUntilClosed(seconds: 5),
            ])
            defer { connection.finish() }
            for (number, expected) in [first, second, first].enumerated() {
                let got = try probe.call(
                    "receiveMessage(_:) (message \(number + 1) of 3)", unblock: connection.unblock,
                    blockedHint: number == 0 ? .lengthPrefix : .keepLeftovers, errorHint: unexpectedErrorHint
                ) {
                    try receiveMessage(connection.fd)
                }
                if got == lengthPrefixed(expected) {
                    throw probe.fail(expected: "\(expected.count) bytes \(escaped(expected))", actual: "\(got.count) bytes \(escaped(got)): the prefix, then the message", hint: .payloadOnly)
                }
                try expectSameBytes(expected, got, probe: probe, hints: [.trailingZeros: .countReturned, .zerosInside: .countReturned],
                                otherwise: number == 0 ? .lengthPrefix : .keepLeftovers)
            }
        }
    }

    // Row 11: lines that share a read, and a line split across reads.
    func test4_lineReaderKeepsWhatFollowsTheLine() throws {
        try grade {
            let probe = Probe("LineReader.readLine() returns \"one\", \"two\", \"three\" (sent as \"one\\ntwo\\nthr\" and \"ee\\n\"), then nil")
            try withProvocations(probe, [.interrupted, .staleErrno(EINTR)]) { on, probe in
                try linesShareReads(probe, interrupted: on[0], stale: on[1] ? EINTR : nil)
            }
        }
    }

    private func linesShareReads(_ probe: Probe, interrupted: Bool, stale: Int32?) throws {
        let connection = try LearnerConnection.fromClient(probe, script: [
            .send(Array("one\ntwo\nthr".utf8)), .pause(0.1), .send(Array("ee\n".utf8)), .close,
        ])
        defer { connection.finish() }
        let reader = Lesson04Box(LineReader(connection.fd))
        let interrupter = Interrupter()
        // Signals every 4 ms while the third line waits for its end (see test1).
        if interrupted { interrupter.interrupt(times: 12, every: 0.004, after: 0.006) }
        for expected in ["one", "two", "three"] {
            let line = try probe.call(
                "readLine() (expecting \"\(expected)\")", unblock: connection.unblock, blockedHint: .keepLeftovers,
                errorHint: unexpectedErrorHint
            ) {
                if let stale { errno = stale }
                return try interrupter.watch { try reader.withValue { try $0.readLine() } }
            }
            guard let line else {
                throw probe.fail(expected: "the line \"\(expected)\"", actual: "nil (end of input)", hint: .keepLeftovers)
            }
            try expectSameBytes(Array(expected.utf8), line, probe: probe, hints: [.trailingZeros: .countReturned, .zerosInside: .countReturned],
                            otherwise: line.last == UInt8(ascii: "\n") ? .stripNewline : .keepLeftovers)
        }
        let end = try probe.measure(
            "readLine() after the last line", seconds: 1.5, unblock: connection.unblock, blockedHint: .recvZero, spinningHint: .recvZero
        ) {
            if let stale { errno = stale }
            return try reader.withValue { try $0.readLine() }
        }.result.mapError { error -> CheckFailure in
            probe.fail(expected: "nil: the peer closed and nothing is left", actual: "it threw \(type(of: error)): \(error)", hint: unexpectedErrorHint(error))
        }.get()
        guard end == nil else {
            throw probe.fail(expected: "nil: the peer closed and nothing is left", actual: "the line \(escaped(end!))", hint: .recvZero)
        }
        try expectStillOpen(connection.isStillOpen, fd: connection.fd, probe: probe, function: "readLine()")
    }

    // Row 14: a peer that answers only after end-of-input needs a half-close.
    func test5_requestReplyHalfClosesThenReadsToTheEnd() throws {
        try grade {
            let probe = Probe("requestReply(_:request:) sends, shuts down its sending side, and reads the whole reply until end-of-file")
            try withProvocations(probe, [.interrupted, .staleErrno(EAGAIN)]) { on, probe in
                try halfCloseThenRead(probe, interrupted: on[0], stale: on[1] ? EAGAIN : nil)
            }
        }
    }

    private func halfCloseThenRead(_ probe: Probe, interrupted: Bool, stale: Int32?) throws {
        let request = Array("count these bytes please".utf8)
        let replyParts = [Array("part one, ".utf8), Array("part two".utf8)]
        let connection = try LearnerConnection.toServer(probe, script: [
            .receiveUntilClosed(seconds: 5),  // this peer answers only after end-of-input
            .send(replyParts[0]), .pause(0.04), .send(replyParts[1]), .close,
        ])
        defer { connection.finish() }
        let interrupter = Interrupter()
        if interrupted { interrupter.interrupt(times: 3, every: 0.012, after: 0.008) }
        let outcome = try probe.attempt(
            "requestReply(_:request:)", unblock: connection.unblock, blockedHint: .halfClose
        ) {
            if let stale { errno = stale }
            return try interrupter.watch { try requestReply(connection.fd, request: request) }
        }
        let reply: [UInt8]
        switch outcome {
        case .success(let bytes):
            reply = bytes
        case .failure(let error):
            // Closed instead of half-closed, or shut down before sending: the half-close went wrong.
            let code = (error as? SocketError)?.code
            let hint: Hint = !connection.isStillOpen || code == EPIPE || code == EBADF ? .halfClose : unexpectedErrorHint(error)
            throw probe.fail(expected: "requestReply(_:request:) to succeed", actual: "it threw \(error)" + (connection.isStillOpen ? "" : "; fd \(connection.fd) was closed"), hint: hint)
        }
        connection.peer.wait()
        try expectSameBytes(request, connection.peer.received, probe: probe, what: "the server to receive the request",
                        hints: [.trailingZeros: .countReturned, .long: .countReturned], otherwise: .shortWrite)
        try expectSameBytes(replyParts[0] + replyParts[1], reply, probe: probe,
                        hints: [.trailingZeros: .countReturned, .zerosInside: .countReturned, .short: reply.isEmpty ? .halfClose : .readToTheEnd],
                        otherwise: .readToTheEnd)
    }

    // Rows 12, 13 and 15: echo each piece as it comes, until the client is done, then close
    // (once) so the client sees it. errno holds a stale EAGAIN before the call.
    func test6_serveEchoEchoesThenCloses() throws {
        try grade {
            let probe = Probe("serveEcho(_:idleTimeout:) echoes every byte as it comes, returns when the client shuts down its side, and closes the connection once")
            let pause = Double(probe.random.int(in: 20...30)) / 1000
            try withProvocations(probe, [.staleErrno(EAGAIN), .interrupted]) { on, probe in
                try echoThenClose(probe, pause: pause, stale: on[0] ? EAGAIN : nil, interrupted: on[1])
            }
        }
    }

    private func echoThenClose(_ probe: Probe, pause: Double, stale: Int32?, interrupted: Bool) throws {
        let parts = [Array("hello".utf8), Array(" world\n".utf8)]
        let sent = parts[0] + parts[1]
        let wire = try DrivenConnection.accepted(probe)
        defer { wire.finish() }
        // The client waits for each echo before it goes on: an echo held back until the end
        // never comes in time.
        let client = Lesson04Background("echo client") { () -> (prompt: Bool, bytes: [UInt8], endOfFile: Bool, at: Double) in
            var got: [UInt8] = []
            var prompt = true
            for part in parts {
                try? wire.send(part)
                let wanted = got.count + part.count
                let deadline = Clock.now + 1.0
                while got.count < wanted, let chunk = try? wire.harness.receive(limit: wanted - got.count, seconds: max(0, deadline - Clock.now)), !chunk.isEmpty {
                    got += chunk
                }
                if got.count < wanted { prompt = false }
                Thread.sleep(forTimeInterval: pause)
            }
            if !got.isEmpty { wire.transcript.record(wire.log, .bytes(from: .learner, got)) }
            if !prompt { wire.note("no echo within 1 s: the client shut down its side all the same") }
            try? wire.halfClose()
            let rest = wire.receiveUntilClosed(seconds: 4)
            return (prompt, got + rest.bytes, rest.endOfFile, Clock.now)
        }
        let closes = CloseCount(wire.fd)
        let interrupter = Interrupter()
        if interrupted { interrupter.interrupt(times: 2, every: pause / 2, after: pause / 3) }
        let measured = try probe.measure(
            "serveEcho(_:idleTimeout: 10)", seconds: 4, unblock: wire.unblock, blockedHint: .recvZero, spinningHint: .recvZero
        ) {
            if let stale { errno = stale }
            try interrupter.watch { try closes.watch { try serveEcho(wire.fd, idleTimeout: 10) } }
        }
        if case .failure(let error) = measured.result {
            let setup = (error as? SocketError)?.call.hasPrefix("setsockopt") == true
            throw probe.fail(expected: "serveEcho to return normally once the client has shut down its side", actual: "it threw \(error)", hint: setup ? .idleTimeout : unexpectedErrorHint(error))
        }
        guard let seen = client.wait(seconds: 0.5), seen.endOfFile else {
            throw probe.fail(
                expected: "the client to read end-of-file within 0.5 s of serveEcho returning",
                actual: wire.isStillOpen ? "the connection is still open (on the server: CLOSE_WAIT)" : "no end-of-file reached the client",
                hint: .closeConnection)
        }
        try expectSameBytes(sent, seen.bytes, probe: probe, what: "the client to get its bytes back",
                        hints: [.trailingZeros: .countReturned, .zerosInside: .countReturned, .long: .countReturned], otherwise: .countReturned)
        guard seen.prompt else {
            throw probe.fail(
                expected: "each piece echoed as soon as it came (the client waits up to 1 s for it)",
                actual: "the echo came only after the client shut down its side", hint: .echoPromptly)
        }
        try expectClosedOnce(closes, probe: probe)
    }

    // Row 16 and rule 2: an idle timeout given as a fraction of a second, restarting with
    // each byte: a silent client is dropped after about that long (not much sooner, not much
    // later), a client that drips a byte every 0.6 x timeout is served to the end, and a
    // timeout over a second (1.x s: tv_usec stays below 1,000,000) is taken too. The slow
    // client's third byte comes 1.2 x timeout after the first: a deadline counted from the
    // start has passed by then. The three run at the same time.
    func test7_serveEchoGivesUpOnASilentClient() throws {
        try grade {
            let probe = Probe("serveEcho(_:idleTimeout:) drops a silent client after about idleTimeout (a fraction of a second), serves a client that sends a byte every 0.6 x idleTimeout to the end, and accepts an idleTimeout over 1 s")
            let random = probe.random
            let timeout = Double(random.int(in: 220...300)) / 1000
            let gap = timeout * Double(random.int(in: 58...62)) / 100
            let longTimeout = Double(random.int(in: 1_150...1_850)) / 1000
            let drips = random.bytes(5)  // 2.4 x idleTimeout in all: a deadline for the whole session cuts it off
            let hello = random.bytes(random.int(in: 1...6))
            let longParts = [random.bytes(random.int(in: 3...9)), random.bytes(random.int(in: 3...9))]
            let longPause = Double(random.int(in: 20...60)) / 1000

            let silent = try DrivenConnection.accepted(probe, name: "client that goes silent")
            defer { silent.finish() }
            let dripper = try DrivenConnection.accepted(probe, name: "slow client")
            defer { dripper.finish() }
            let patient = try DrivenConnection.accepted(probe, name: "client")
            defer { patient.finish() }
            try dripper.noDelay()

            // The clients.
            // It says one thing at once, then nothing: a timeout applied only to the first read
            // (a poll before the loop) never drops it.
            let silentSide = Lesson04Background("silent client") { () -> (endOfFile: Bool, at: Double, echo: [UInt8]) in
                try? silent.send(hello)
                let seen = silent.receiveUntilClosed(seconds: timeout + 2)
                return (seen.endOfFile, Clock.now, seen.bytes)
            }
            let dripSide = Lesson04Background("slow client") { () -> DripClientView in
                var view = DripClientView()
                let start = Clock.now
                for (index, byte) in drips.enumerated() {
                    let slot = start + Double(index) * gap
                    Thread.sleep(forTimeInterval: max(0, slot - Clock.now))
                    do { try dripper.send([byte]) } catch { view.sendFailed = "\(error)"; break }
                    // Its echo must come back within the gap, before the next byte.
                    if let echo = try? dripper.harness.receive(limit: 1, seconds: max(0.01, slot + gap * 0.9 - Clock.now)) {
                        if echo.isEmpty { view.closedEarlyAfter = index + 1; dripper.transcript.record(dripper.log, .closed(by: .learner)); break }
                        dripper.transcript.record(dripper.log, .bytes(from: .learner, echo))
                        view.echoed += echo
                        if !echo.isEmpty { view.prompt += 1 }
                    }
                }
                if view.closedEarlyAfter == nil && view.sendFailed == nil {
                    view.halfClosedAt = Clock.now
                    try? dripper.halfClose()
                    let rest = dripper.receiveUntilClosed(seconds: timeout + 2)
                    view.echoed += rest.bytes
                    view.endOfFile = rest.endOfFile
                } else {
                    view.endOfFile = true
                }
                view.endAt = Clock.now
                return view
            }
            let patientSide = Lesson04Background("client") { () -> (bytes: [UInt8], endOfFile: Bool, at: Double) in
                var got: [UInt8] = []
                for (index, part) in longParts.enumerated() {
                    if index > 0 { Thread.sleep(forTimeInterval: longPause) }
                    guard (try? patient.send(part)) != nil else { break }
                    if let echo = try? patient.harness.receive(limit: part.count, seconds: 0.5), !echo.isEmpty {
                        patient.transcript.record(patient.log, .bytes(from: .learner, echo))
                        got += echo
                    }
                }
                try? patient.halfClose()
                let rest = patient.receiveUntilClosed(seconds: 2)
                return (got + rest.bytes, rest.endOfFile, Clock.now)
            }

            // The learner's three calls, at the same time.
            let silentCloses = CloseCount(silent.fd), dripCloses = CloseCount(dripper.fd), patientCloses = CloseCount(patient.fd)
            let silentCall = Lesson04Background("serveEcho silent") { () -> (Result<Deadline.Measured<Void>, any Error>, Double) in
                let started = Clock.now
                return (Result {
                    try probe.measure("serveEcho(_:idleTimeout: \(timeout)) with a client that sends \(hello.count) bytes, then nothing", seconds: timeout + 1.2, unblock: silent.unblock, blockedHint: .idleTimeout) {
                        try silentCloses.watch { try serveEcho(silent.fd, idleTimeout: timeout) }
                    }
                }, started)
            }
            let dripCall = Lesson04Background("serveEcho slow") { () -> Result<Deadline.Measured<Void>, any Error> in
                Result {
                    try probe.measure("serveEcho(_:idleTimeout: \(timeout)) with a client that sends a byte every \(Int(gap * 1000)) ms", seconds: Double(drips.count) * gap + timeout + 1.2, unblock: dripper.unblock, blockedHint: .recvZero, spinningHint: .recvZero) {
                        try dripCloses.watch { try serveEcho(dripper.fd, idleTimeout: timeout) }
                    }
                }
            }
            let patientCall = Lesson04Background("serveEcho long") { () -> Result<Deadline.Measured<Void>, any Error> in
                Result {
                    try probe.measure("serveEcho(_:idleTimeout: \(longTimeout))", seconds: 2, unblock: patient.unblock, blockedHint: .recvZero, spinningHint: .recvZero) {
                        try patientCloses.watch { try serveEcho(patient.fd, idleTimeout: longTimeout) }
                    }
                }
            }
            let waitLimit = Double(drips.count) * gap + timeout + 4
            guard let (silentResult, silentStarted) = silentCall.wait(seconds: waitLimit),
                  let dripResult = dripCall.wait(seconds: waitLimit),
                  let patientResult = patientCall.wait(seconds: waitLimit) else {
                throw probe.fail(expected: "the three serveEcho calls to end", actual: "the harness could not stop them", hint: .idleTimeout)
            }

            // Over a second: tv_usec must stay below 1,000,000.
            let patientMeasured = try patientResult.get()
            let patientView = patientSide.wait(seconds: 2.5)
            if case .failure(let error) = patientMeasured.result {
                let code = (error as? SocketError)?.code
                throw probe.fail(
                    expected: "serveEcho(_:idleTimeout: \(longTimeout)) to echo \(escaped(longParts[0] + longParts[1])) and return when the client shuts down its side",
                    actual: "it threw \(error)",
                    hint: code == EDOM || code == EINVAL ? .timevalRange : unexpectedErrorHint(error))
            }
            if let patientView, patientView.bytes != longParts[0] + longParts[1] {
                throw probe.fail(
                    expected: "serveEcho(_:idleTimeout: \(longTimeout)) to echo \(escaped(longParts[0] + longParts[1])) (\(Int(longPause * 1000)) ms between the two writes)",
                    actual: "the client got back \(escaped(patientView.bytes))", hint: .idleTimeoutUnits)
            }

            // The silent client: dropped after about `timeout`, and it sees end-of-file.
            let silentMeasured = try silentResult.get()
            if case .failure(let error) = silentMeasured.result {
                throw probe.fail(
                    expected: "serveEcho(_:idleTimeout: \(timeout)) to return normally when the client stays silent",
                    actual: "it threw \(error)", hint: (error as? SocketError).map { [EAGAIN, EWOULDBLOCK].contains($0.code) } == true ? .idleIsNormal : unexpectedErrorHint(error))
            }
            let took = silentMeasured.seconds
            guard took >= timeout * 0.7 else {
                throw probe.fail(
                    expected: "serveEcho to wait about \(Int(timeout * 1000)) ms for the silent client",
                    actual: "it returned after \(Int(took * 1000)) ms", hint: .idleTimeoutUnits)
            }
            guard took <= timeout + 0.4 else {
                throw probe.fail(
                    expected: "serveEcho to drop the silent client after about \(Int(timeout * 1000)) ms",
                    actual: "it returned after \(Int(took * 1000)) ms", hint: .idleTimeoutUnits)
            }
            let returnedAt = silentStarted + took
            guard let silentView = silentSide.wait(seconds: 1), silentView.endOfFile, silentView.at - returnedAt <= 0.5 else {
                throw probe.fail(
                    expected: "the silent client to read end-of-file within 0.5 s of serveEcho giving up",
                    actual: silent.isStillOpen ? "the connection is still open" : "no end-of-file within 0.5 s", hint: .closeConnection)
            }
            try expectSameBytes(hello, silentView.echo, probe: probe, what: "the client that goes silent to get its first bytes back",
                            hints: [.trailingZeros: .countReturned, .zerosInside: .countReturned, .long: .countReturned], otherwise: .echoPromptly)

            // The slow but steady client: served to the end, each byte echoed at once.
            let dripMeasured = try dripResult.get()
            let dripView = dripSide.wait(seconds: timeout + 2.5) ?? DripClientView()
            if case .failure(let error) = dripMeasured.result {
                throw probe.fail(
                    expected: "serveEcho to serve the slow client to the end and return normally",
                    actual: "it threw \(error)", hint: unexpectedErrorHint(error))
            }
            if let sent = dripView.closedEarlyAfter {
                throw probe.fail(
                    expected: "serveEcho to serve a client that sends a byte every \(Int(gap * 1000)) ms (idleTimeout \(Int(timeout * 1000)) ms) until it shuts down its side",
                    actual: "it closed the connection \(Int(dripMeasured.seconds * 1000)) ms after it started, when the client had sent \(sent) of \(drips.count) bytes and got \(dripView.echoed.count) back",
                    hint: .idleRestart)
            }
            if let failed = dripView.sendFailed {
                throw probe.fail(
                    expected: "serveEcho to serve a client that sends a byte every \(Int(gap * 1000)) ms until it shuts down its side",
                    actual: "the client's send failed: \(failed)", hint: .idleRestart)
            }
            try expectSameBytes(drips, dripView.echoed, probe: probe, what: "the slow client to get its \(drips.count) bytes back",
                            hints: [.trailingZeros: .countReturned, .zerosInside: .countReturned, .long: .countReturned], otherwise: .idleRestart)
            guard dripView.prompt == drips.count else {
                throw probe.fail(
                    expected: "each byte echoed before the next one is sent (\(Int(gap * 1000)) ms later)",
                    actual: "\(dripView.prompt) of \(drips.count) came back in time", hint: .echoPromptly)
            }
            guard dripView.endOfFile else {
                throw probe.fail(expected: "the slow client to read end-of-file after it shut down its side", actual: "no end-of-file", hint: .closeConnection)
            }

            for closes in [silentCloses, dripCloses, patientCloses] { try expectClosedOnce(closes, probe: probe) }
        }
    }

    // Row 3: the connection is closed on the error path too, exactly once.
    func test8_serveEchoClosesAfterAReset() throws {
        try grade {
            let probe = Probe("serveEcho(_:idleTimeout:) closes the connection (once) even when the client resets it")
            let connection = try LearnerConnection.fromClient(probe, script: [.send(Array("x".utf8)), .pause(0.02), .reset])
            defer { connection.finish() }
            let closes = CloseCount(connection.fd)
            _ = try probe.attempt("serveEcho(_:idleTimeout: 10)", seconds: 3, unblock: connection.unblock, blockedHint: .recvZero) {
                try closes.watch { try serveEcho(connection.fd, idleTimeout: 10) }
            }
            guard !connection.isStillOpen else {
                throw probe.fail(
                    expected: "serveEcho to close the connection (it may throw ECONNRESET, or return)",
                    actual: "fd \(connection.fd) is still open after serveEcho ended", hint: .leak)
            }
            try expectClosedOnce(closes, probe: probe)
        }
    }
}

// MARK: - receiveExactly and receiveMessage: every size, every failure

extension Lesson04ReceiveGrader {
    // Rule 2, rows 10, 11, 13: count 0 (nothing to wait for), 1, and more than 65,535 bytes
    // in seeded pieces and drips; what follows the count stays in the socket.
    func test9_receiveExactlyTakesExactlyCountBytes() throws {
        try grade {
            let probe = Probe("receiveExactly(_:count:) takes exactly count bytes (0, 1, and more than 65,535 in pieces), leaving what follows in the socket")
            let random = probe.random
            let one = random.bytes(1)
            let big = random.bytes(random.int(in: 65_537...200_000))
            let trailer = random.bytes(random.int(in: 5...40))
            // A small first piece (it is sent before the learner's code reads anything, so it
            // must fit in the buffers), then seeded pieces, three of them single bytes.
            let head = random.int(in: 100...4_000)
            var bigPieces = [Array(big.prefix(head))] + seededPieces(of: Array(big.dropFirst(head)), count: random.int(in: 4...8), random: random)
            let dripAt = random.int(in: 1...(bigPieces.count - 2))
            let dripped = bigPieces[dripAt]
            bigPieces.replaceSubrange(dripAt...dripAt, with: dripped.prefix(3).map { [$0] } + [Array(dripped.dropFirst(3))])
            bigPieces = bigPieces.filter { !$0.isEmpty }

            let wire = try DrivenConnection.accepted(probe)
            defer { wire.finish() }
            try wire.noDelay()
            try wire.send(one + bigPieces[0], bulk: true)
            // Wait until it is there, so that count 0 has bytes it must leave alone.
            let first = one.count + bigPieces[0].count
            let settle = Clock.now + 1
            while wire.unread(limit: first).count < first && Clock.now < settle { Thread.sleep(forTimeInterval: 0.002) }

            let zero = try probe.measure("receiveExactly(_:count: 0)", seconds: 1, unblock: wire.unblock, blockedHint: .zeroCount, spinningHint: .zeroCount) {
                try receiveExactly(wire.fd, count: 0)
            }
            switch zero.result {
            case .success(let bytes) where bytes.isEmpty:
                break
            case .success(let bytes):
                throw probe.fail(expected: "receiveExactly(_:count: 0) to return [] at once", actual: "it returned \(bytes.count) bytes \(escaped(bytes))", hint: .zeroCount)
            case .failure(let error):
                throw probe.fail(expected: "receiveExactly(_:count: 0) to return [] at once", actual: "it threw \(error)", hint: .zeroCount)
            }
            let left = wire.unread(limit: first)
            guard left.count == first else {
                throw probe.fail(
                    expected: "receiveExactly(_:count: 0) to leave the \(first) waiting bytes in the socket",
                    actual: "only \(left.count) are left: it took \(first - left.count)", hint: .zeroCount)
            }

            let gotOne = try probe.call("receiveExactly(_:count: 1)", unblock: wire.unblock, blockedHint: .recvZero, errorHint: unexpectedErrorHint) {
                try receiveExactly(wire.fd, count: 1)
            }
            try expectSameBytes(one, gotOne, probe: probe, what: "receiveExactly(_:count: 1)", hints: receivedHints, otherwise: .readTooMuch)
            try expectLeftInSocket(Array(bigPieces[0].prefix(4096)), wire: wire, probe: probe, after: "receiveExactly(_:count: 1)")

            // The rest arrives while the learner's code waits: pieces, single bytes, and the last
            // piece in one write with what follows.
            let rest = Array(bigPieces.dropFirst())
            let gaps = rest.map { _ in Double(random.int(in: 1...4)) / 1000 }
            let sender = Lesson04Background("sender") { () -> Bool in
                for (index, piece) in rest.enumerated() {
                    Thread.sleep(forTimeInterval: gaps[index])
                    let last = index == rest.count - 1
                    guard (try? wire.send(last ? piece + trailer : piece, bulk: piece.count > 256)) != nil else { return false }
                }
                return true
            }
            let gotBig = try probe.call("receiveExactly(_:count: \(big.count))", seconds: 3, unblock: wire.unblock, blockedHint: .recvOnce, errorHint: unexpectedErrorHint) {
                try receiveExactly(wire.fd, count: big.count)
            }
            _ = sender.wait(seconds: 2)
            try expectSameBytes(big, gotBig, probe: probe, what: "receiveExactly(_:count: \(big.count))", hints: receivedHints, otherwise: .recvOffset)
            try expectLeftInSocket(trailer, wire: wire, probe: probe, after: "receiveExactly(_:count: \(big.count))")
            try expectStillOpen(wire.isStillOpen, fd: wire.fd, probe: probe, function: "receiveExactly(_:count:)")
        }
    }

    // Rule 1: a failed recv is a SocketError with its errno, from a descriptor that is not
    // open (a random positive number, not just -1), a socket that is not connected, and a
    // connection reset in the middle of a message; never ConnectionClosed, never a retry loop.
    func test10_receiveExactlyReportsFailedCalls() throws {
        try grade {
            let probe = Probe("receiveExactly(_:count:) throws SocketError for a descriptor that is not open (EBADF), a socket never connected (ENOTCONN), and a connection reset mid-message (ECONNRESET)")
            let closed = ErrorInputs.closedDescriptor(probe.random)
            let count = probe.random.int(in: 4...64)
            let notOpen = try probe.measure("receiveExactly(\(closed), count: \(count))", seconds: 1, blockedHint: .retryErrors, spinningHint: .retryErrors) {
                try receiveExactly(closed, count: count)
            }
            try expectSocketFailure(notOpen.result, codes: [EBADF], probe: probe, function: "receiveExactly(_:count:)",
                              input: "descriptor \(closed), which is not open", returnedHint: .recvError, closedHint: .recvError, otherHint: .recvError)

            let fresh = socket(AF_INET, SocketType.stream.rawValue, 0)
            guard fresh >= 0 else { throw SocketError(call: "socket") }
            defer { closeIfOpen(fresh) }
            let notConnected = try probe.measure("receiveExactly(_:count: \(count)) on a socket never connected", seconds: 1, unblock: { _ = LibC.shutdown(fresh, ShutdownHow.both) }, blockedHint: .retryErrors, spinningHint: .retryErrors) {
                try receiveExactly(fresh, count: count)
            }
            try expectSocketFailure(notConnected.result, codes: [ENOTCONN], probe: probe, function: "receiveExactly(_:count:)",
                              input: "a TCP socket that was never connected", returnedHint: .recvError, closedHint: .recvError, otherHint: .recvError)

            let sent = probe.random.bytes(probe.random.int(in: 1...(count - 1)))
            let connection = try LearnerConnection.fromClient(probe, script: [.send(sent), .pause(0.01), .reset])
            defer { connection.finish() }
            let reset = try probe.measure("receiveExactly(_:count: \(count)) (the peer resets after \(sent.count) bytes)", seconds: 1.5, unblock: connection.unblock, blockedHint: .retryErrors, spinningHint: .retryErrors) {
                try receiveExactly(connection.fd, count: count)
            }
            try expectSocketFailure(reset.result, codes: [ECONNRESET], probe: probe, function: "receiveExactly(_:count:)",
                              input: "a connection reset after \(sent.count) of \(count) bytes", returnedHint: .recvError, closedHint: .recvError, otherHint: .recvError,
                              returnedHintFor: { $0.count < count ? .recvOnce : nil })
        }
    }

    // Rule 2, row 11: lengths 0, 1 and more than 65,535 (a 2-byte length cannot say it),
    // coalesced and split; then the peer closes in the middle of a prefix.
    func test11_receiveMessageHandlesEveryLength() throws {
        try grade {
            let probe = Probe("receiveMessage(_:) reads messages of 0, 1 and more than 65,535 bytes, coalesced and split, then throws ConnectionClosed when the peer closes mid-prefix")
            let random = probe.random
            let messages = [[], random.bytes(1), random.bytes(random.int(in: 65_537...180_000)), random.bytes(random.int(in: 2...30))]
            let stream = messages.flatMap(lengthPrefixed)
            // The first write holds the empty message, the 1-byte one and the start of the big
            // one; the rest comes in seeded pieces, one of them cutting the last prefix in two.
            let firstCut = 4 + 5 + random.int(in: 2...100)
            let lastPrefix = stream.count - messages[3].count - 4
            var cuts = [firstCut, lastPrefix + 2]
            while cuts.count < 6 { cuts.append(random.int(in: (firstCut + 1)...(lastPrefix - 1))) }
            cuts = Array(Set(cuts)).sorted()
            var writes: [[UInt8]] = []
            var start = 0
            for cut in cuts + [stream.count] {
                writes.append(Array(stream[start..<cut]))
                start = cut
            }
            let tail = Array(lengthPrefixed(random.bytes(9)).prefix(random.int(in: 1...3)))
            let allWrites = writes
            let wire = try DrivenConnection.accepted(probe)
            defer { wire.finish() }
            try wire.noDelay()
            let sender = Lesson04Background("sender") { () -> Bool in
                for write in allWrites {
                    guard (try? wire.send(write, bulk: write.count > 256)) != nil else { return false }
                    Thread.sleep(forTimeInterval: 0.003)
                }
                Thread.sleep(forTimeInterval: 0.01)
                guard (try? wire.send(tail)) != nil else { return false }
                wire.close()
                return true
            }
            defer { _ = sender.wait(seconds: 2) }
            for (number, expected) in messages.enumerated() {
                let function = "receiveMessage(_:) (message \(number + 1) of \(messages.count), \(expected.count) bytes)"
                let hint: Hint = expected.isEmpty ? .emptyMessage : expected.count > 65_535 ? .lengthAllFourBytes : .lengthPrefix
                let got = try probe.call(function, seconds: 3, unblock: wire.unblock, blockedHint: hint, errorHint: { error in
                    error is ConnectionClosed ? hint : unexpectedErrorHint(error)
                }) {
                    try receiveMessage(wire.fd)
                }
                var shapeHints = receivedHints
                shapeHints[.short] = hint
                if expected.count > 65_535 && got.count == expected.count & 0xFFFF { shapeHints[.short] = .lengthAllFourBytes }
                try expectSameBytes(expected, got, probe: probe, what: function, hints: shapeHints, otherwise: hint)
            }
            let end = try probe.measure(
                "receiveMessage(_:) (the peer sends \(tail.count) bytes of a prefix, then closes)", seconds: 1.5, unblock: wire.unblock,
                blockedHint: .recvZero, spinningHint: .recvZero
            ) {
                try receiveMessage(wire.fd)
            }
            switch end.result {
            case .failure(is ConnectionClosed):
                break
            case .failure(let error):
                throw probe.fail(expected: "ConnectionClosed: the peer closed in the middle of a length prefix", actual: "it threw \(type(of: error)): \(error)", hint: .recvZero)
            case .success(let bytes):
                throw probe.fail(expected: "ConnectionClosed: the peer closed in the middle of a length prefix", actual: "it returned \(bytes.count) bytes \(escaped(bytes))", hint: .recvZero)
            }
            try expectStillOpen(wire.isStillOpen, fd: wire.fd, probe: probe, function: "receiveMessage(_:)")
        }
    }
}

// MARK: - LineReader: every kind of line

extension Lesson04ReceiveGrader {
    // Rule 2, rows 11, 13: empty lines, "\r" inside and before the "\n", bytes that are not
    // UTF-8, a line longer than 65,535 bytes in pieces, one dripped a byte at a time, and a
    // last line with no "\n" before the peer closes (ConnectionClosed, as the doc says).
    func test12_lineReaderReadsEveryKindOfLine() throws {
        try grade {
            let probe = Probe("LineReader.readLine() returns empty lines, lines holding \"\\r\" or bytes that are not UTF-8, a line over 65,535 bytes and a dripped one, then throws ConnectionClosed for a last line with no \"\\n\"")
            let random = probe.random
            let newline = UInt8(ascii: "\n")
            let carriage = Array("carriage\rreturn\r".utf8)
            let notUTF8: [UInt8] = [0xFF, 0xFE, 0x41, 0x80, 0xC3, 0x28, 0x00, 0x42]
            let long = seededBytes(random.int(in: 65_537...90_000), random, excluding: newline)
            let dripped = Array("drip, drip".utf8)
            let unterminated = Array("no newline at the end".utf8)
            let lines: [(bytes: [UInt8], name: String)] = [
                ([], "an empty line"), ([], "a second empty line"), (carriage, "a line holding \"\\r\""),
                (notUTF8, "a line of bytes that are not UTF-8"), (long, "a line of \(long.count) bytes"), (dripped, "a line sent a byte at a time"),
            ]
            let head = Array("\n\n".utf8) + carriage + [newline] + notUTF8 + [newline]
            let longPieces = seededPieces(of: long + [newline], count: random.int(in: 3...6), random: random)

            let wire = try DrivenConnection.accepted(probe)
            defer { wire.finish() }
            try wire.noDelay()
            let sender = Lesson04Background("sender") { () -> Bool in
                do {
                    try wire.send(head + longPieces[0], bulk: true)
                    try wire.send(pieces: Array(longPieces.dropFirst()), gap: 0.002)
                    for byte in dripped + [newline] {
                        Thread.sleep(forTimeInterval: 0.002)
                        try wire.send([byte])
                    }
                    Thread.sleep(forTimeInterval: 0.005)
                    try wire.send(unterminated)
                    Thread.sleep(forTimeInterval: 0.005)
                    wire.close()
                    return true
                } catch {
                    return false
                }
            }
            defer { _ = sender.wait(seconds: 2) }
            let reader = Lesson04Box(LineReader(wire.fd))
            for (expected, name) in lines {
                let hint = lineHint(for: expected)
                let line = try probe.call("readLine() (expecting \(name))", seconds: 2, unblock: wire.unblock, blockedHint: hint, errorHint: unexpectedErrorHint) {
                    try reader.withValue { try $0.readLine() }
                }
                guard let line else {
                    throw probe.fail(expected: "\(name): \(expected.count) bytes \(escaped(expected))", actual: "nil (end of input)", hint: expected.isEmpty ? .emptyLine : hint)
                }
                var hints = receivedHints
                if line.last == newline { hints[.long] = .stripNewline }
                if expected == carriage {
                    // Cut short by its "\r": trimmed. Anything else: the "\n" was looked for in a String.
                    hints = [.trailingZeros: .countReturned, .zerosInside: .countReturned]
                    if line == Array(carriage.dropLast()) { hints[.short] = .keepCarriageReturn }
                }
                if expected.isEmpty { hints[.long] = .emptyLine; hints[.scrambled] = .emptyLine }
                if expected == notUTF8 { hints = [.trailingZeros: .countReturned, .zerosInside: .countReturned] }
                try expectSameBytes(expected, line, probe: probe, what: name, hints: hints, otherwise: hint)
            }
            let end = try probe.measure(
                "readLine() (the peer sends \(escaped(unterminated)) with no \"\\n\", then closes)", seconds: 1.5, unblock: wire.unblock,
                blockedHint: .recvZero, spinningHint: .recvZero
            ) {
                try reader.withValue { try $0.readLine() }
            }
            let expected = "ConnectionClosed with the \(unterminated.count) bytes of the unfinished line"
            switch end.result {
            case .failure(let closed as ConnectionClosed) where closed.received == unterminated:
                break
            case .failure(let closed as ConnectionClosed):
                throw probe.fail(expected: expected, actual: "ConnectionClosed with \(closed.received.count) bytes \(escaped(closed.received))", hint: .unterminatedLine)
            case .failure(let error):
                throw probe.fail(expected: expected, actual: "it threw \(type(of: error)): \(error)", hint: .unterminatedLine)
            case .success(let line):
                throw probe.fail(expected: expected, actual: describeLearnerReturn(line), hint: .unterminatedLine)
            }
            try expectStillOpen(wire.isStillOpen, fd: wire.fd, probe: probe, function: "readLine()")
        }
    }

    private func lineHint(for expected: [UInt8]) -> Hint {
        if expected.isEmpty { return .emptyLine }
        if expected.contains(UInt8(ascii: "\r")) { return .newlineByte }
        if expected.count > 65_535 { return .longLine }
        if !String(decoding: expected, as: UTF8.self).utf8.elementsEqual(expected) { return .linesAreBytes }  // not UTF-8
        return .keepLeftovers
    }
}

extension Lesson04ReceiveGrader {
    // Rule 1: receiveMessage and readLine pass recv's failures on as SocketError, for a
    // descriptor that is not open and for a connection reset in the middle; never [] or nil,
    // which would read as an empty message or the normal end.
    func test17_receiveMessageAndReadLineReportFailedCalls() throws {
        try grade {
            let probe = Probe("receiveMessage(_:) and LineReader.readLine() throw SocketError for a descriptor that is not open (EBADF) and a connection reset mid-message (ECONNRESET)")
            let random = probe.random
            let closed = ErrorInputs.closedDescriptor(random)
            let message = try probe.measure("receiveMessage(\(closed))", seconds: 1, blockedHint: .retryErrors, spinningHint: .retryErrors) {
                try receiveMessage(closed)
            }
            try expectSocketFailure(message.result, codes: [EBADF], probe: probe, function: "receiveMessage(_:)", input: "descriptor \(closed), which is not open",
                              returnedHint: .recvError, closedHint: .recvError, otherHint: .recvError)
            let line = try probe.measure("readLine() on LineReader(\(closed))", seconds: 1, blockedHint: .retryErrors, spinningHint: .retryErrors) { () -> [UInt8]? in
                var reader = LineReader(closed)
                return try reader.readLine()
            }
            try expectSocketFailure(line.result, codes: [EBADF], probe: probe, function: "readLine()", input: "descriptor \(closed), which is not open",
                              returnedHint: .recvError, closedHint: .recvError, otherHint: .recvError)

            let half = random.bytes(random.int(in: 1...20))
            let resetMessage = try LearnerConnection.fromClient(probe, script: [.send(lengthPrefixed(half + random.bytes(30)).dropLast(30).map { $0 }), .pause(0.01), .reset])
            defer { resetMessage.finish() }
            let midMessage = try probe.measure("receiveMessage(_:) (the peer resets in the middle of the message)", seconds: 1.5, unblock: resetMessage.unblock, blockedHint: .retryErrors, spinningHint: .retryErrors) {
                try receiveMessage(resetMessage.fd)
            }
            try expectSocketFailure(midMessage.result, codes: [ECONNRESET], probe: probe, function: "receiveMessage(_:)", input: "a connection reset after \(half.count) of \(half.count + 30) bytes",
                              returnedHint: .recvError, closedHint: .recvError, otherHint: .recvError)

            let partial = Array("a line, then a re".utf8)
            let resetLine = try LearnerConnection.fromClient(probe, script: [.send(Array("first\n".utf8) + partial), .pause(0.01), .reset])
            defer { resetLine.finish() }
            let reader = Lesson04Box(LineReader(resetLine.fd))
            _ = try probe.call("readLine() (expecting \"first\")", unblock: resetLine.unblock, blockedHint: .keepLeftovers, errorHint: unexpectedErrorHint) {
                try reader.withValue { try $0.readLine() }
            }
            let midLine = try probe.measure("readLine() (the peer resets in the middle of the next line)", seconds: 1.5, unblock: resetLine.unblock, blockedHint: .retryErrors, spinningHint: .retryErrors) {
                try reader.withValue { try $0.readLine() }
            }
            try expectSocketFailure(midLine.result, codes: [ECONNRESET], probe: probe, function: "readLine()", input: "a connection reset in the middle of a line",
                              returnedHint: .recvError, closedHint: .recvError, otherHint: .recvError)
        }
    }
}

// MARK: - requestReply: short writes, and every way it can fail

extension Lesson04ReceiveGrader {
    // Rule 4, rows 8, 14: a request larger than the buffers to a server that reads slowly
    // (it stops reading now and then), on a socket with a small send buffer and a short send
    // timeout: sends come back short, or fail with EAGAIN. Then a reply over 65,535 bytes in
    // pieces. And an empty request, and an empty reply.
    func test13_requestReplySendsEveryByteThroughShortWrites() throws {
        try grade {
            let probe = Probe("requestReply(_:request:) delivers a request of more than 65,535 bytes to a slow reader through short writes and EAGAIN, then reads a reply of more than 65,535 bytes; and an empty request or reply")
            let random = probe.random
            let request = random.bytes(random.int(in: 200_000...360_000))
            let reply = random.bytes(random.int(in: 65_537...150_000))
            let replyPieces = seededPieces(of: reply, count: random.int(in: 3...6), random: random)
            let pauses = (0..<2).map { _ in (at: random.int(in: 16_384...(request.count - 16_384)), seconds: Double(random.int(in: 15...25)) / 1000) }
            let wire = try DrivenConnection.connected(probe, name: "slow server")
            defer { wire.finish() }
            try wire.harness.setOption(SOL_SOCKET, SO_RCVBUF, 32_768, "SO_RCVBUF")
            try makeSendsShort(wire.fd, sendBuffer: 8_192, sendTimeout: 0.008)
            wire.note("the server reads 16 KB at a time and stops reading for a while at bytes \(pauses.map { $0.at }.sorted()); your socket has SO_SNDBUF 8 KB and a send timeout of 8 ms")
            let server = Lesson04Background("slow server") { () -> SlowRead in
                let read = readSlowly(wire.harness, chunk: 16_384, pauses: pauses, seconds: 6)
                wire.transcript.record(wire.log, .bulk(from: .learner, bytes: read.bytes, reads: read.reads))
                if read.endOfFile {
                    wire.transcript.record(wire.log, .halfClosed(by: .learner))
                    try? wire.send(pieces: replyPieces, gap: 0.002)
                }
                wire.close()
                return read
            }
            let measured = try probe.measure("requestReply(_:request: \(request.count) bytes)", seconds: 6, unblock: wire.unblock, blockedHint: .halfClose, spinningHint: .sendBufferFull) {
                try requestReply(wire.fd, request: request)
            }
            if case .failure = measured.result, wire.isStillOpen {
                // It gave up: end the request for it, so the server stops reading.
                wire.note("requestReply threw; the harness shut down the sending side of your socket")
                _ = LibC.shutdown(wire.fd, ShutdownHow.write)
            }
            let read = server.wait(seconds: 6) ?? SlowRead()
            switch measured.result {
            case .failure(let error):
                let code = (error as? SocketError)?.code
                let mangled = ByteShape(expected: Array(request.prefix(read.bytes.count)), actual: read.bytes) != .same
                throw probe.fail(
                    expected: "requestReply to send all \(request.count) bytes, then read the reply",
                    actual: "it threw \(error) after \(Int(measured.seconds * 1000)) ms, when the server had \(read.bytes.count) bytes" + (mangled ? ", not all of them the bytes sent (\(difference(expected: Array(request.prefix(read.bytes.count)), actual: read.bytes) ?? ""))" : ""),
                    hint: mangled ? .shortWrite : code == EAGAIN || code == EWOULDBLOCK ? .sendBufferFull : unexpectedErrorHint(error))
            case .success(let got):
                try expectSameBytes(request, read.bytes, probe: probe, what: "the server to receive the whole request",
                                hints: [.short: read.endOfFile ? .shortWrite : .sendBufferFull, .long: .shortWriteOffset, .scrambled: .shortWrite,
                                        .zerosInside: .countReturned, .trailingZeros: .countReturned], otherwise: .shortWrite)
                try expectSameBytes(reply, got, probe: probe, what: "the reply", hints: receivedHints, otherwise: .readToTheEnd)
            }

            // Nothing to send: still the half-close; nothing to read: [].
            for (small, answer) in [([UInt8](), random.bytes(1)), (random.bytes(1), [UInt8]())] {
                let connection = try LearnerConnection.toServer(probe, script: [.receiveUntilClosed(seconds: 2)] + (answer.isEmpty ? [] : [.send(answer)]) + [.close])
                defer { connection.finish() }
                let got = try probe.call("requestReply(_:request: \(small.count) bytes) (the reply has \(answer.count))", unblock: connection.unblock, blockedHint: .halfClose, errorHint: unexpectedErrorHint) {
                    try requestReply(connection.fd, request: small)
                }
                connection.peer.wait(seconds: 1)
                try expectSameBytes(small, connection.peer.received, probe: probe, what: "the server to receive the request", otherwise: .shortWrite)
                try expectSameBytes(answer, got, probe: probe, what: "the reply", hints: receivedHints, otherwise: .readToTheEnd)
            }
        }
    }

    // Rules 1 and 3, row 17: a descriptor that is not open; a socket never connected (send
    // fails with EPIPE); a server that closed before the request (EPIPE or ECONNRESET); a
    // server that resets in the middle of its reply (ECONNRESET, not a short reply). None
    // may raise SIGPIPE, which would kill the learner's program.
    func test14_requestReplyReportsFailedCalls() throws {
        try grade {
            let probe = Probe("requestReply(_:request:) throws SocketError, without SIGPIPE, for a descriptor that is not open, a socket never connected, a server gone before the request, and a reset in the middle of the reply")
            let random = probe.random
            let closed = ErrorInputs.closedDescriptor(random)
            let small = random.bytes(random.int(in: 8...64))
            let notOpen = try probe.attempt("requestReply(\(closed), request:)", seconds: 1, blockedHint: .retryErrors) {
                try requestReply(closed, request: small)
            }
            try expectSocketFailure(notOpen, codes: [EBADF], probe: probe, function: "requestReply(_:request:)", input: "descriptor \(closed), which is not open",
                              returnedHint: .uncheckedResult("send"), closedHint: .recvError, otherHint: .recvError)

            let fresh = socket(AF_INET, SocketType.stream.rawValue, 0)
            guard fresh >= 0 else { throw SocketError(call: "socket") }
            defer { closeIfOpen(fresh) }
            let (unconnected, unconnectedSignals) = try SIGPIPECount.around {
                try probe.attempt("requestReply(_:request:) on a socket never connected", seconds: 1, unblock: { _ = LibC.shutdown(fresh, ShutdownHow.both) }, blockedHint: .retryErrors) {
                    try requestReply(fresh, request: small)
                }
            }
            try expectNoSIGPIPE(unconnectedSignals, probe: probe, function: "requestReply(_:request:) on a socket never connected")
            try expectSocketFailure(unconnected, codes: [EPIPE, ENOTCONN], probe: probe, function: "requestReply(_:request:)", input: "a TCP socket never connected",
                              returnedHint: .uncheckedResult("send"), closedHint: .recvError, otherHint: .recvError)

            // The server closes before reading anything: the request's first bytes make its
            // kernel answer with a reset, and the next send fails with EPIPE.
            let gone = try DrivenConnection.connected(probe, name: "server")
            defer { gone.finish() }
            try makeSendsShort(gone.fd, sendBuffer: 8_192, sendTimeout: 1)
            gone.close()
            _ = Inspect.waitReadable(gone.fd, seconds: 1)
            let request = random.bytes(random.int(in: 100_000...200_000))
            let (goneOutcome, goneSignals) = try SIGPIPECount.around {
                try probe.attempt("requestReply(_:request: \(request.count) bytes) to a server that has closed", seconds: 2, unblock: gone.unblock, blockedHint: .retryErrors) {
                    try requestReply(gone.fd, request: request)
                }
            }
            try expectNoSIGPIPE(goneSignals, probe: probe, function: "requestReply(_:request:) to a server that has closed")
            if case .failure(let error as SocketError) = goneOutcome, error.code == ENOTCONN, error.call.hasPrefix("shutdown") {
                throw probe.fail(expected: "requestReply to throw the send's EPIPE or ECONNRESET", actual: "it threw \(error): the failed send went unnoticed", hint: .uncheckedResult("send"))
            }
            try expectSocketFailure(goneOutcome, codes: [EPIPE, ECONNRESET], probe: probe, function: "requestReply(_:request:)", input: "a server that closed before reading",
                              returnedHint: .uncheckedResult("send"), closedHint: .recvError, otherHint: .recvError)
            guard gone.isStillOpen else {
                throw probe.fail(expected: "requestReply to leave the caller's socket open (the caller closes it)", actual: "fd \(gone.fd) was closed", hint: .callerOwnsSocket)
            }

            // The server takes the request, sends part of a reply, then resets.
            let part = random.bytes(random.int(in: 1...200))
            let resetting = try LearnerConnection.toServer(probe, script: [.receiveUntilClosed(seconds: 2), .send(part), .pause(0.01), .reset])
            defer { resetting.finish() }
            let (resetOutcome, _) = try SIGPIPECount.around {
                try probe.attempt("requestReply(_:request:) (the server resets after \(part.count) bytes of its reply)", seconds: 2, unblock: resetting.unblock, blockedHint: .retryErrors) {
                    try requestReply(resetting.fd, request: small)
                }
            }
            try expectSocketFailure(resetOutcome, codes: [ECONNRESET], probe: probe, function: "requestReply(_:request:)", input: "a server that resets after \(part.count) bytes of its reply",
                              returnedHint: .recvError, closedHint: .recvError, otherHint: .recvError)
        }
    }
}

// MARK: - serveEcho: short writes, and closing on every path

extension Lesson04ReceiveGrader {
    // Rule 4, row 8: the client sends a stream larger than the buffers and reads the echo
    // slowly, stopping now and then; the connection has a small send buffer and a short send
    // timeout, so the echo's sends come back short or fail with EAGAIN. Every byte must come
    // back, in order, and serveEcho must return only when the client is done.
    func test15_serveEchoEchoesEveryByteThroughShortWrites() throws {
        try grade {
            let probe = Probe("serveEcho(_:idleTimeout:) echoes a stream of more than 65,535 bytes to a client that reads slowly, through short writes and EAGAIN")
            let random = probe.random
            let payload = random.bytes(random.int(in: 200_000...360_000))
            let writes = seededPieces(of: payload, count: random.int(in: 6...12), random: random)
            let pauses = (0..<2).map { _ in (at: random.int(in: 16_384...(payload.count - 16_384)), seconds: Double(random.int(in: 15...25)) / 1000) }
            let wire = try DrivenConnection.accepted(probe, name: "slow client")
            defer { wire.finish() }
            // Measured on loopback: a receive buffer under 32 KB stalls the window (the persist
            // timer makes it crawl); with these, a few dozen sends come back short.
            try wire.harness.setOption(SOL_SOCKET, SO_RCVBUF, 32_768, "SO_RCVBUF")
            try makeSendsShort(wire.fd, sendBuffer: 8_192, sendTimeout: 0.008)
            wire.note("the client writes \(payload.count) bytes in \(writes.count) pieces, reads the echo 16 KB at a time and stops reading for a while at bytes \(pauses.map { $0.at }.sorted()); your socket has SO_SNDBUF 8 KB and a send timeout of 8 ms")
            let writer = Lesson04Background("writer") { () -> (error: String?, doneAt: Double) in
                do {
                    for write in writes { try wire.harness.sendAll(write) }
                    wire.transcript.record(wire.log, .bulk(from: .harness, bytes: payload, reads: writes.count))
                    try wire.halfClose()
                    return (nil, Clock.now)
                } catch {
                    return ("\(error)", Clock.now)
                }
            }
            let reader = Lesson04Background("reader") { () -> SlowRead in
                let read = readSlowly(wire.harness, chunk: 16_384, pauses: pauses, seconds: 6)
                wire.transcript.record(wire.log, .bulk(from: .learner, bytes: read.bytes, reads: read.reads))
                if read.endOfFile { wire.transcript.record(wire.log, .closed(by: .learner)) }
                return read
            }
            let closes = CloseCount(wire.fd)
            let measured = try probe.measure("serveEcho(_:idleTimeout: 5)", seconds: 6, unblock: wire.unblock, blockedHint: .recvZero, spinningHint: .sendBufferFull) {
                try closes.watch { try serveEcho(wire.fd, idleTimeout: 5) }
            }
            let returnedAt = Clock.now
            let wrote = writer.wait(seconds: 2) ?? ("the writer did not finish", Clock.now)
            let read = reader.wait(seconds: 6) ?? SlowRead()
            let early = wrote.error != nil || wrote.doneAt > returnedAt
            if case .failure(let error) = measured.result {
                let code = (error as? SocketError)?.code
                // Bytes missing or repeated before the failure: short sends were taken as whole.
                let mangled = ByteShape(expected: Array(payload.prefix(read.bytes.count)), actual: read.bytes) != .same
                throw probe.fail(
                    expected: "serveEcho to echo all \(payload.count) bytes and return when the client shuts down its side",
                    actual: "it threw \(error) when the client had \(read.bytes.count) bytes back" + (mangled ? ", not all of them the bytes sent (\(difference(expected: Array(payload.prefix(read.bytes.count)), actual: read.bytes) ?? ""))" : ""),
                    hint: mangled ? .shortWrite : code == EAGAIN || code == EWOULDBLOCK ? .sendBufferFull : unexpectedErrorHint(error))
            }
            let shape = ByteShape(expected: payload, actual: read.bytes)
            try expectSameBytes(payload, read.bytes, probe: probe, what: "the client to get every byte back, in order",
                            hints: [.short: early ? .sendBufferFull : .shortWrite, .long: .shortWriteOffset, .scrambled: shape == .scrambled && read.bytes.count > payload.count ? .shortWriteOffset : .shortWrite,
                                    .zerosInside: .countReturned, .trailingZeros: .countReturned], otherwise: .shortWrite)
            guard !early else {
                throw probe.fail(expected: "serveEcho to return only after the client shut down its side", actual: "it returned while the client was still sending (\(wrote.error ?? "its writes came after"))", hint: .sendBufferFull)
            }
            guard read.endOfFile else {
                throw probe.fail(expected: "the client to read end-of-file after the echo", actual: "no end-of-file", hint: .closeConnection)
            }
            try expectClosedOnce(closes, probe: probe)
        }
    }

    // Rules 1 and 3, rows 3, 15, 17: serveEcho owns the connection, so it closes it (once) on
    // every way out: when setsockopt fails (a pipe, not a socket: ENOTSOCK), when recv fails
    // (a socket never connected), when the echo meets a client that is gone (EPIPE, and no
    // SIGPIPE); and it throws SocketError for a descriptor that is not open.
    func test16_serveEchoClosesOnEveryPath() throws {
        try grade {
            let probe = Probe("serveEcho(_:idleTimeout:) closes what it was given exactly once on every path: setsockopt failing (a pipe), recv failing (never connected), a client gone mid-echo (no SIGPIPE); and throws for a descriptor not open")
            let random = probe.random
            let closed = ErrorInputs.closedDescriptor(random)
            let notOpen = try probe.attempt("serveEcho(\(closed), idleTimeout: 0.5)", seconds: 1.5, blockedHint: .retryErrors) {
                try serveEcho(closed, idleTimeout: 0.5)
            }
            try expectSocketFailure(notOpen, codes: [EBADF], probe: probe, function: "serveEcho(_:idleTimeout:)", input: "descriptor \(closed), which is not open",
                              returnedHint: .uncheckedResult("setsockopt"), closedHint: .recvError, otherHint: .recvError)

            // A pipe with bytes waiting: whatever the style, a call fails (setsockopt or recv
            // with ENOTSOCK, or write with EBADF), and the descriptor must be closed.
            var ends: [Int32] = [-1, -1]
            guard pipe(&ends) == 0 else { throw SocketError(call: "pipe") }
            let (readEnd, writeEnd) = (ends[0], ends[1])
            let pipeIdentity = Inspect.identity(readEnd)
            defer {
                if Inspect.identity(readEnd) == pipeIdentity { _ = LibC.close(readEnd) }
                _ = LibC.close(writeEnd)
            }
            let waiting = random.bytes(random.int(in: 1...32))
            _ = waiting.withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) }
            let pipeCloses = CloseCount(readEnd)
            let onPipe = try probe.attempt("serveEcho(_:idleTimeout: 0.5) given a pipe", seconds: 1.5, unblock: { _ = LibC.shutdown(writeEnd, ShutdownHow.both) }, blockedHint: .retryErrors) {
                try pipeCloses.watch { try serveEcho(readEnd, idleTimeout: 0.5) }
            }
            try expectSocketFailure(onPipe, codes: [ENOTSOCK, EBADF], probe: probe, function: "serveEcho(_:idleTimeout:)", input: "a pipe (not a socket)",
                              returnedHint: .uncheckedResult("setsockopt"), closedHint: .recvError, otherHint: .recvError)
            guard Inspect.identity(readEnd) != pipeIdentity else {
                throw probe.fail(expected: "serveEcho to close what it was given when its first call fails", actual: "descriptor \(readEnd) (a pipe) is still open after serveEcho threw", hint: .closeFirst)
            }
            try expectClosedOnce(pipeCloses, probe: probe)

            // A socket never connected: recv fails with ENOTCONN (or the poll reports a hang-up).
            let fresh = socket(AF_INET, SocketType.stream.rawValue, 0)
            guard fresh >= 0 else { throw SocketError(call: "socket") }
            let freshIdentity = Inspect.identity(fresh)
            defer { if Inspect.identity(fresh) == freshIdentity { _ = LibC.close(fresh) } }
            let freshCloses = CloseCount(fresh)
            _ = try probe.attempt("serveEcho(_:idleTimeout: 0.5) given a socket never connected", seconds: 1.5, unblock: { _ = LibC.shutdown(fresh, ShutdownHow.both) }, blockedHint: .retryErrors) {
                try freshCloses.watch { try serveEcho(fresh, idleTimeout: 0.5) }
            }
            guard Inspect.identity(fresh) != freshIdentity else {
                throw probe.fail(expected: "serveEcho to close the connection when recv fails", actual: "fd \(fresh) is still open after serveEcho ended", hint: .closeFirst)
            }
            try expectClosedOnce(freshCloses, probe: probe)

            // A client that sent a burst and closed before serveEcho started: the first echo
            // makes its kernel answer with a reset, and the next send fails with EPIPE.
            try clientGoneMidEcho(probe)
        }
    }

    private func clientGoneMidEcho(_ probe: Probe) throws {
        let burst = probe.random.bytes(probe.random.int(in: 200_000...300_000))
        let listener = try HarnessSocket.listener(ownsAccepted: false)
        try listener.setOption(SOL_SOCKET, SO_RCVBUF, 1 << 20, "SO_RCVBUF")
        let wire = try acceptedThrough(listener, probe: probe)
        defer { wire.finish() }
        // As much of the burst as the buffers take without anyone reading (all of it, on the
        // machines measured), then a normal close: the learner's side is in CLOSE_WAIT.
        let flags = fcntl(wire.harness.fd, F_GETFL)
        _ = fcntl(wire.harness.fd, F_SETFL, flags | O_NONBLOCK)
        var sent = 0
        while sent < burst.count {
            let wrote = burst.withUnsafeBytes { send(wire.harness.fd, $0.baseAddress! + sent, $0.count - sent, sendNoSignal) }
            if wrote <= 0 { break }
            sent += wrote
        }
        wire.transcript.record(wire.log, .bulk(from: .harness, bytes: Array(burst.prefix(sent)), reads: 1))
        wire.close()
        let settle = Clock.now + 1
        while wire.unread(limit: sent + 1).count < sent && Clock.now < settle { Thread.sleep(forTimeInterval: 0.002) }
        let closes = CloseCount(wire.fd)
        let (_, signals) = try SIGPIPECount.around {
            try probe.attempt("serveEcho(_:idleTimeout: 5) (the client sent \(sent) bytes and closed without reading)", seconds: 2, unblock: wire.unblock, blockedHint: .recvZero) {
                try closes.watch { try serveEcho(wire.fd, idleTimeout: 5) }
            }
        }
        try expectNoSIGPIPE(signals, probe: probe, function: "serveEcho(_:idleTimeout:) echoing to a client that has gone")
        guard !wire.isStillOpen else {
            throw probe.fail(expected: "serveEcho to close the connection when the echo fails", actual: "fd \(wire.fd) is still open after serveEcho ended", hint: .leak)
        }
        try expectClosedOnce(closes, probe: probe)
    }

    private func acceptedThrough(_ listener: HarnessSocket, probe: Probe) throws -> DrivenConnection {
        defer { listener.close() }
        return try DrivenConnection.accepted(probe, through: listener)
    }
}

// MARK: - Shared expectations

/// Hints for bytes that came back wrong from a receive, by their shape.
private let receivedHints: [ByteShape: Hint] = [
    .short: .recvOnce, .trailingZeros: .countReturned, .zerosInside: .countReturned, .long: .readTooMuch, .scrambled: .recvOffset,
]

/// The hint for a learner's call that threw where it should have returned.
private func unexpectedErrorHint(_ error: any Error) -> Hint {
    switch error {
    case is ConnectionClosed: return .recvZero
    case let error as SocketError where error.code == EINTR: return .eintr
    case let error as SocketError where [EAGAIN, EWOULDBLOCK].contains(error.code): return .errnoStale
    default: return .recvError
    }
}

/// What the slow client of test7 saw.
private struct DripClientView: Sendable {
    var echoed: [UInt8] = []
    var prompt = 0
    var closedEarlyAfter: Int?
    var sendFailed: String?
    var halfClosedAt: Double?
    var endOfFile = false
    var endAt: Double = 0
}

/// Something a check does to the learner's call that correct code shrugs off.
private struct Provocation {
    let hint: Hint
    let words: String

    /// errno holds a stale value when the learner's code is called.
    static func staleErrno(_ value: Int32) -> Provocation {
        Provocation(hint: .errnoStale, words: "errno held \(errnoName(value)), left by an earlier call, when your code was called")
    }

    /// A signal interrupts the learner's waiting call (EINTR).
    static let interrupted = Provocation(hint: .eintr, words: "a signal interrupted your code's waiting recv, which then returned -1 with EINTR")
}

/// Runs `scenario` with every provocation on. If it fails, runs it again with none: if that
/// fails too, the provocations are not the point, and that plainer failure is reported.
/// Otherwise it tries them one at a time: the one that alone makes the code fail is what it
/// mishandles, and the failure names it (a hint chosen from what was observed, not guessed).
/// Each run gets a probe of its own (the same check, so the same seeded inputs, and a
/// transcript of its own run only).
private func withProvocations(_ probe: Probe, _ provocations: [Provocation], _ scenario: ([Bool], Probe) throws -> Void) throws {
    do {
        try scenario(provocations.map { _ in true }, probe)
    } catch let failure as CheckFailure {
        holdFreedDescriptorNumbers()
        try scenario(provocations.map { _ in false }, Probe(probe.check))  // a plainer mistake fails here
        for index in provocations.indices where provocations.count > 1 {
            var alone = provocations.map { _ in false }
            alone[index] = true
            let run = Probe(probe.check)
            do { try scenario(alone, run) } catch let single as CheckFailure {
                throw run.fail(
                    expected: single.expected, actual: single.actual + " (\(provocations[index].words); without that it passes)",
                    hint: provocations[index].hint)
            }
        }
        // Only all of them together make it fail. A real EINTR also leaves errno holding EINTR
        // for the calls after it, so a stale errno is the likelier mistake when one is listed.
        let named = provocations.first { $0.hint == .errnoStale } ?? provocations[0]
        throw probe.fail(
            expected: failure.expected,
            actual: failure.actual + " (\(provocations.map(\.words).joined(separator: "; and ")); without \(provocations.count > 1 ? "them" : "that") it passes)",
            hint: named.hint)
    }
}

/// A learner's call that spins (recv returning 0 forever on a socket the harness shut down)
/// goes on calling recv on its descriptor number after its run has failed. A connection of a
/// later run given that number would lose bytes to it. Holding the lowest free numbers (on
/// /dev/null, so no census counts them) for the rest of the process keeps new sockets off the
/// numbers just freed; there, that recv fails with ENOTSOCK and the loop usually ends. Only a
/// failing answer gets here.
private func holdFreedDescriptorNumbers(_ count: Int = 8) {
    for _ in 0..<count { _ = open("/dev/null", O_RDONLY) }
}

private func expectStillOpen(_ open: Bool, fd: Int32, probe: Probe, function: String) throws {
    guard open else {
        throw probe.fail(expected: "\(function) to leave the socket open (it is the caller's)", actual: "fd \(fd) was closed", hint: .callerOwnsSocket)
    }
}

private func expectClosedOnce(_ closes: CloseCount, probe: Probe) throws {
    guard let count = closes.closes, count > 1 else { return }
    throw probe.fail(
        expected: "serveEcho to close fd \(closes.fd) exactly once",
        actual: "it called close(\(closes.fd)) \(count) times", hint: .closeOnce)
}

private func expectNoSIGPIPE(_ signals: Int, probe: Probe, function: String) throws {
    guard signals > 0 else { return }
    throw probe.fail(
        expected: "\(function) to fail with EPIPE without raising SIGPIPE",
        actual: "it raised SIGPIPE \(signals) time(s): a program of yours would have been killed (exit status 141)", hint: .noSigpipe)
}

private func expectLeftInSocket(_ expected: [UInt8], wire: DrivenConnection, probe: Probe, after: String) throws {
    let deadline = Clock.now + 0.5
    var left = wire.unread(limit: expected.count)
    while left.count < expected.count && Clock.now < deadline {
        Thread.sleep(forTimeInterval: 0.002)
        left = wire.unread(limit: expected.count)
    }
    guard Array(left.prefix(expected.count)) != expected else { return }
    throw probe.fail(
        expected: "after \(after), the next bytes \(escaped(expected)) still waiting in the socket",
        actual: left.isEmpty ? "nothing is left: your code took them" : "the socket holds \(escaped(left))", hint: .readTooMuch)
}

extension Hint {
    static let recvOnce = Hint("recv-once", "recv returns whatever has arrived so far, which can be a single byte. Loop, asking for what is still missing, until you have the whole message.")
    static let recvOffset = Hint("recv-offset", "Write each piece after the bytes you already have (pointer + filled), and ask for count - filled: otherwise later pieces overwrite earlier ones.")
    static let countReturned = Hint("count-returned", "Use the count recv returned, not the size of your buffer: the rest of the buffer holds zeros (or old bytes) that never came over the wire.")
    static let recvZero = Hint("recv-zero", "recv returning 0 means the peer closed its side: nothing more will ever come. Stop there (throw ConnectionClosed when a message is incomplete; readLine returns nil when nothing is pending) instead of calling recv again, which would return 0 forever, or blocking.")
    static let lengthPrefix = Hint("length-prefix", "Read the 4-byte length with receiveExactly(fd, count: 4): it can arrive in pieces. It is big-endian: the first byte is the most significant (length = b0 << 24 | b1 << 16 | b2 << 8 | b3).")
    static let keepLeftovers = Hint("keep-leftovers", "One recv may bring the end of this message and the start of the next. Keep the extra bytes for the next call (in LineReader's pending), and never ask recv for more than the message still needs.")
    static let stripNewline = Hint("strip-newline", "Return the line without its \"\\n\": cut before the newline, and remove the newline from pending too.")
    static let halfClose = Hint("half-close", "This peer answers only when it reads end-of-file. After sending the request, call shutdown(fd, ShutdownHow.write): the peer's recv returns 0, and you can still read its reply. Not close(fd), and not ShutdownHow.both: either ends your reading too; and not before the request is sent.")
    static let readToTheEnd = Hint("read-to-the-end", "The reply can come in several pieces (and can be empty): keep calling recv and appending until it returns 0 (end-of-file).")
    static let closeConnection = Hint("close-connection", "Close the connection when you are done with it, on every path (defer { close(connection) }). Until you do, the client never reads end-of-file and waits, while your side sits in CLOSE_WAIT.")
    static let idleTimeout = Hint("idle-timeout", "A silent client would keep recv blocked forever. Set SO_RCVTIMEO to the idle timeout before the loop: recv then returns -1 with EAGAIN when nothing came in time, and you can stop. Mind the fraction: Int(0.25) is 0, and a timeval of zero means no timeout at all; the rest goes in tv_usec, in microseconds.")

    static let zeroCount = Hint("zero-count", "receiveExactly(fd, count: 0) has nothing to wait for: return [] at once, without calling recv. recv asked for 0 bytes returns 0, which looks like end-of-file, and a loop that reads before it checks (repeat-while) waits for a byte nobody owes it, or takes one that belongs to the next message.")
    static let readTooMuch = Hint("read-too-much", "Ask recv for count - filled bytes at most. A whole buffer's worth can take bytes that belong to the next message out of the socket: they come back as part of this one, or are lost.")
    static let recvError = Hint("recv-error", "recv (or send) returning -1 is a failure, not an end: throw SocketError(call:) with its errno (ECONNRESET, EBADF, ENOTCONN, EPIPE...). Only recv returning 0 means the peer closed; ConnectionClosed is for that, and a short reply is not a whole one.")
    static let retryErrors = Hint("retry-errors", "Call again only after EINTR. Any other -1 (EBADF, ENOTCONN, ECONNRESET) will fail the same way forever: throw SocketError at once instead of looping, or waiting.")
    static let errnoStale = Hint("errno-stale", "Look at errno only after a call returned -1. A call that succeeds (or returns 0) leaves errno as it was, so an EAGAIN or EINTR still there from an earlier call means nothing: decide by the return value first.")
    static let closedReceived = Hint("closed-received", "ConnectionClosed(received:) carries the bytes that did come before the peer closed: exactly those, the count recv returned in all (buffer.prefix(filled)), not an empty array and not the whole buffer.")
    static let callerOwnsSocket = Hint("caller-owns-socket", "These functions read from (or write to) a socket the caller owns: leave it open, even when the peer has closed or a call failed. The caller closes it; closing it twice could close another file that got the same number.")
    static let payloadOnly = Hint("payload-only", "receiveMessage returns the message's bytes only: the 4-byte length prefix tells you how many to read; it is not part of the message.")
    static let emptyMessage = Hint("empty-message", "A length of 0 is an empty message: return [] without waiting for more (receiveExactly with count 0 returns at once). The next message's prefix follows right after it.")
    static let lengthAllFourBytes = Hint("length-all-four-bytes", "The length is all 4 bytes: b0 << 24 | b1 << 16 | b2 << 8 | b3, in an Int. A message can be longer than 65,535 bytes, which 2 bytes (or a UInt16) cannot count.")
    static let emptyLine = Hint("empty-line", "Two \"\\n\" in a row is an empty line: return [] for it. nil means only that the peer closed with nothing pending; and skipping empty lines loses them.")
    static let keepCarriageReturn = Hint("keep-carriage-return", "A line is every byte before the \"\\n\", \"\\r\" included: don't trim it (or other whitespace). The caller decides what \"\\r\" means.")
    static let newlineByte = Hint("newline-byte", "Search the bytes for the newline byte (10, UInt8(ascii: \"\\n\")), not for a Character in a String: Swift treats \"\\r\\n\" as one Character, so a String search for \"\\n\" misses a line that ends in \"\\r\\n\".")
    static let linesAreBytes = Hint("lines-are-bytes", "readLine returns the bytes as they came. Turning them into a String and back replaces bytes that are not valid UTF-8 with U+FFFD (EF BF BD): keep [UInt8] from recv to the caller.")
    static let longLine = Hint("long-line", "A line can be longer than your buffer (or than 65,535 bytes): keep appending to pending until a \"\\n\" arrives, however many reads that takes.")
    static let unterminatedLine = Hint("unterminated-line", "At end-of-file with bytes left in pending, the last line never got its \"\\n\": throw ConnectionClosed(received: pending), as the doc comment says, instead of returning it as a line, returning nil, or dropping it.")
    static let shortWrite = Hint("short-write", "send took only part of the bytes (the other side reads slowly, and the buffers are full): loop until every byte is sent, as lesson 3's sendAll does, going on from where the last send stopped.")
    static let shortWriteOffset = Hint("short-write-offset", "After a short send, carry on from where it stopped: the base address plus the bytes sent so far, and the length minus them. Starting again from the beginning sends some bytes twice.")
    static let sendBufferFull = Hint("send-buffer-full", "send failing with EAGAIN (or EWOULDBLOCK) means its buffer is full right now: the other side reads slowly, and the socket has a send timeout (or is non-blocking). Wait with poll for POLLOUT, then send the rest. It is not an error to throw, and in serveEcho it is not the idle timeout.")
    static let noSigpipe = Hint("no-sigpipe", "Writing to a connection the other side has closed raises SIGPIPE, which kills a Swift program (exit status 141). Pass sendNoSignal (MSG_NOSIGNAL on Linux) as send's flags, so send returns -1 with EPIPE and you can throw; on macOS, suppressSIGPIPE(on:) sets SO_NOSIGPIPE.")
    static let echoPromptly = Hint("echo-promptly", "Send back each piece as soon as recv returns it. The client waits for its echo before it sends more: an echo held until the end (or until a buffer fills) never comes.")
    static let idleRestart = Hint("idle-restart", "The idle timeout measures silence, not the whole conversation: it starts again with every byte that arrives (SO_RCVTIMEO does that by itself: it bounds each recv). A deadline computed once at the start drops a slow but steady client.")
    static let idleTimeoutUnits = Hint("idle-timeout-units", "idleTimeout is in seconds and may be a fraction. In a timeval, whole seconds go in tv_sec and the rest, in microseconds, in tv_usec (0.25 s is 0 and 250,000); poll takes milliseconds (250). Rounding to whole seconds, or mixing up the units, gives up far too soon or far too late.")
    static let timevalRange = Hint("timeval-range", "setsockopt rejects a timeval whose tv_usec is 1,000,000 or more (EDOM): for 1.5 s, tv_sec is 1 and tv_usec 500,000, not tv_usec 1,500,000.")
    static let idleIsNormal = Hint("idle-is-normal", "A silent client is not a failure: when recv fails with EAGAIN or EWOULDBLOCK after SO_RCVTIMEO (or poll times out), return normally; the defer closes the connection.")
    static let closeOnce = Hint("close-once", "Close the connection exactly once: defer { close(connection) } already runs on every way out, so don't close it again before returning. A second close(fd) fails with EBADF at best; at worst another thread has opened a file under that number meanwhile, and you close theirs.")
    static let eintr = Hint("eintr", "recv (or send, or poll) returning -1 with EINTR means a signal arrived while it waited, before anything happened: nothing failed, call it again. Only other errors are failures; and EINTR is not end-of-file either.")
    static let closeFirst = Hint("close-first", "Put defer { close(connection) } first, before setsockopt or anything else that can throw: serveEcho owns the connection from its first line, so it must close it even when its very first call fails.")
}
