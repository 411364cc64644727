import Foundation
import GradingHarness
import Lesson07
import SocketKit
import XCTest

/// Grades Exercises/Lesson07/ManyClients.swift: a thread-per-client server with a cap, and
/// a poll-based echo server. Each server runs on a thread of its own against real loopback
/// clients; client counts, sizes, limits, timeouts and the order of the clients' writes come
/// from the check's seed. Nothing the server says about itself is trusted: the clients'
/// bytes, the descriptors left open and the server thread's processor time are measured.
final class Lesson07ManyClientsGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(7)
    }

    // MARK: serveWithThreads

    // Every client is handed to the handler once, on its own connection; after the handler
    // returns, the server closes that connection (the client reads end-of-file).
    func test1_threadsServeEveryClientOnce() throws {
        try grade {
            let probe = Probe("serveWithThreads(_:limit:stop:handler:) hands each client to the handler once, on its own connection, and closes it after the handler returns")
            let count = probe.random.int(in: 3...9)
            let limit = probe.random.int(in: 1...4)
            let calls = HandlerLog()
            let server = try RunningServer(probe.random) { listener, stop in
                try serveWithThreads(listener, limit: limit, stop: stop) { fd in
                    // The handler reads the client's line, answers, and returns.
                    var line: [UInt8] = []
                    while line.last != 10, let chunk = try? Inspect.receive(fd, limit: 64, seconds: 2), !chunk.isEmpty { line += chunk }
                    calls.record(line)
                    _ = (Array("hello, ".utf8) + line).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
                }
            }
            defer { server.tearDown() }
            probe.transcript.note("\(count) clients, limit \(limit); the handler reads one line and answers \"hello, \" and the line")
            var clients: [EchoClient] = []
            for number in 1...count { clients.append(try EchoClient(server.address, number: number, transcript: probe.transcript)) }
            for (index, client) in clients.enumerated() { try client.send(Array("client \(index + 1)\n".utf8)) }
            for (index, client) in clients.enumerated() {
                let line = Array("client \(index + 1)\n".utf8)
                let (bytes, closed) = try client.receive(line.count + 8, seconds: 3)
                if let result = server.result { throw Lesson07Grading.returnedEarly(result, probe: probe, while: "\(count) clients were being served") }
                guard bytes == Array("hello, ".utf8) + line else {
                    throw probe.fail(expected: "client \(index + 1) to be answered \"hello, client \(index + 1)\\n\" by the handler", actual: "it got \(escaped(bytes))\(closed ? ", then end-of-file" : "") within 3 s", hint: bytes.isEmpty ? .threadsServeEveryone : .threadsOwnConnection)
                }
                guard closed || client.closedByServer(within: 2) else {
                    throw probe.fail(expected: "the connection closed once the handler returned", actual: "client \(index + 1) got its answer, and the connection stayed open for 2 s more", hint: .threadsCloseAfterHandler)
                }
            }
            let lines = calls.lines
            guard lines.count == count else {
                throw probe.fail(expected: "the handler called \(count) times, once per client", actual: "it was called \(lines.count) times", hint: .threadsServeEveryone)
            }
        }
    }

    // At most `limit` handlers at once, and exactly `limit` while that many clients wait:
    // more is no cap, fewer serves the crowd one at a time.
    func test2_threadsHoldTheLimit() throws {
        try grade {
            let probe = Probe("serveWithThreads(_:limit:stop:handler:) runs at most `limit` handlers at once, and that many while clients wait")
            let limit = probe.random.int(in: 1...4)
            let count = limit + probe.random.int(in: 2...4)
            let gate = Gate()
            let server = try RunningServer(probe.random) { listener, stop in
                try serveWithThreads(listener, limit: limit, stop: stop) { _ in gate.pass() }
            }
            defer {
                gate.openForever()
                server.tearDown()
            }
            probe.transcript.note("limit \(limit), \(count) clients connect at once; each handler waits until the harness lets it go")
            var clients: [EchoClient] = []
            for number in 1...count { clients.append(try EchoClient(server.address, number: number, transcript: probe.transcript)) }
            // Let go of one handler at a time: each time, the running count must be back to
            // `limit` (while enough clients wait), never above.
            for served in 0..<count {
                let expected = min(limit, count - served)
                let running = gate.waitForRunning(expected, seconds: 2)
                if let result = server.result { throw Lesson07Grading.returnedEarly(result, probe: probe, while: "clients were waiting") }
                guard gate.mostAtOnce <= limit else {
                    throw probe.fail(expected: "at most \(limit) handlers running at once", actual: "\(gate.mostAtOnce) ran at once", hint: .threadsNoCap)
                }
                guard running == expected else {
                    throw probe.fail(expected: "\(expected) handlers running (\(count - served) clients not yet served, limit \(limit))", actual: "\(running) running after 2 s", hint: running < expected ? .threadsTooFew : .threadsNoCap)
                }
                gate.letOneGo()
            }
        }
    }

    // Stop: returns promptly when idle, waits for handlers still running, never reads the
    // stop pipe, leaves the listener open, and uses no processor time while it waits.
    func test3_threadsStopPromptlyWithoutSpinning() throws {
        try grade {
            let probe = Probe("serveWithThreads(_:limit:stop:handler:) waits without using the processor, and returns soon after the stop pipe becomes readable, once its handlers have returned")
            let gate = Gate()
            let baseline = DescriptorCensus.take()
            let server = try RunningServer(probe.random) { listener, stop in
                try serveWithThreads(listener, limit: 2, stop: stop) { _ in gate.pass() }
            }
            defer {
                gate.openForever()
                server.tearDown()
            }
            let idle = server.cpuWhileWaiting(0.4)
            guard idle < 0.1 else {
                throw probe.fail(expected: "a server with no clients to use next to no processor time", actual: "its thread used \(String(format: "%.2f", idle)) s of processor time in 0.40 s with nothing to do", hint: .spinning)
            }
            let client = try EchoClient(server.address, number: 1, transcript: probe.transcript)
            guard gate.waitForRunning(1, seconds: 2) == 1 else {
                throw probe.fail(expected: "the client handed to the handler", actual: "no handler was running after 2 s", hint: .threadsServeEveryone)
            }
            server.requestStop()
            probe.transcript.note("the harness wrote a byte to the stop pipe while a handler was still running")
            if let result = server.waitForReturn(0.4) {
                throw probe.fail(expected: "serveWithThreads to wait for the running handler before it returns", actual: "it returned (\(Lesson07Grading.describe(result))) while the handler was still running", hint: .threadsStopWaits)
            }
            gate.openForever()
            try Lesson07Grading.expectNormalReturn("serveWithThreads", server.waitForReturn, within: 1.5, after: "its last handler", when: "when stopped", probe: probe, hint: .threadsStop)
            guard server.stopByteStillThere else {
                throw probe.fail(expected: "the stop byte left in the pipe (other servers may watch it too)", actual: "the pipe was empty: the server read it", hint: .stopRead)
            }
            guard Inspect.isOpen(server.listener.fd) else {
                throw probe.fail(expected: "the listener left open (it is the caller's)", actual: "it was closed", hint: .listenerClosed)
            }
            guard client.closedByServer(within: 1) else {
                throw probe.fail(expected: "the client's connection closed after its handler returned", actual: "it stayed open", hint: .threadsCloseAfterHandler)
            }
            client.socket.close()
            let left = Lesson07Grading.leftOpen(since: baseline, server: server)
            guard left.isEmpty else {
                throw probe.fail(expected: "no descriptor of the server's left open after it returned", actual: "still open: \(left)", hint: .threadsCloseAfterHandler)
            }
        }
    }

    // Rule 1: a listener that is no socket at all, or not open: an error, at once.
    func test4_threadsReportABadListener() throws {
        try grade {
            let probe = Probe("serveWithThreads(_:limit:stop:handler:) throws SocketError at once when the listener is not usable: a closed descriptor, a pipe, a socket that is not listening")
            try Lesson07Grading.expectBadListenersRefused(probe) { listener, stop in
                try serveWithThreads(listener, limit: 2, stop: stop) { _ in }
            }
        }
    }

    // MARK: serveEchoWithPoll

    // Many clients, their writes interleaved in a seeded order and cut at seeded sizes:
    // each gets back exactly its own bytes, in order.
    func test5_pollEchoesManyClientsTheirOwnBytes() throws {
        try grade {
            let probe = Probe("serveEchoWithPoll(_:stop:maxPending:idleTimeout:) echoes to each of many clients exactly its own bytes, in order, while their writes interleave")
            let count = probe.random.int(in: 4...16)
            let server = try RunningServer(probe.random) { listener, stop in
                try serveEchoWithPoll(listener, stop: stop, maxPending: 1 << 20, idleTimeout: 30)
            }
            defer { server.tearDown() }
            var clients: [EchoClient] = []
            for number in 1...count { clients.append(try EchoClient(server.address, number: number, transcript: probe.transcript)) }
            var sent = Array(repeating: [UInt8](), count: count)
            var received = Array(repeating: [UInt8](), count: count)
            let rounds = probe.random.int(in: 3...6)
            for _ in 0..<rounds {
                // Each round: every client writes a piece of its own, in a shuffled order.
                var order = Array(0..<count)
                var generator = probe.random
                order.shuffle(using: &generator)
                for index in order {
                    let piece = probe.random.bytes(probe.random.int(in: 1...3000))
                    sent[index] += piece
                    try clients[index].send(piece)
                }
                for index in 0..<count {
                    let (bytes, closed) = try clients[index].receive(sent[index].count - received[index].count, seconds: 2)
                    received[index] += bytes
                    if let result = server.result { throw Lesson07Grading.returnedEarly(result, probe: probe, while: "\(count) clients were talking to it") }
                    guard received[index] == sent[index] else {
                        let difference = GradingHarness.difference(expected: sent[index], actual: received[index]) ?? ""
                        throw probe.fail(expected: "client \(index + 1) to get back its \(sent[index].count) bytes", actual: "it got \(received[index].count) bytes\(closed ? " and end-of-file" : "") within 2 s; \(difference)", hint: received[index].count < sent[index].count ? .pollLosesBytes : .pollOwnBytes)
                    }
                }
            }
        }
    }

    // A client that sends nothing, and one that sends and never reads, must not slow the
    // others; the one that never reads is cut off once it owes more than maxPending.
    func test6_pollSlowClientsDoNotDelayOthers() throws {
        try grade {
            let probe = Probe("serveEchoWithPoll(_:stop:maxPending:idleTimeout:) keeps answering other clients at once while one says nothing and one never reads; the one that never reads is disconnected once it owes more than maxPending bytes")
            let maxPending = probe.random.int(in: 4096...65_536)
            let server = try RunningServer(probe.random) { listener, stop in
                try serveEchoWithPoll(listener, stop: stop, maxPending: maxPending, idleTimeout: 30)
            }
            defer { server.tearDown() }
            probe.transcript.note("maxPending \(maxPending); client 1 connects and says nothing; client 2 sends and never reads; client 3 asks and waits for each answer")
            let silent = try EchoClient(server.address, number: 1, transcript: probe.transcript)
            let hog = try EchoClient(server.address, number: 2, transcript: probe.transcript, receiveBuffer: 4096)
            let talker = try EchoClient(server.address, number: 3, transcript: probe.transcript)
            defer { silent.socket.close() }
            // The hog writes without reading until the server disconnects it (or 4 s pass).
            let flood = Lesson07Grading.flood(hog, seconds: 4)
            for round in 1...8 {
                let question = probe.random.bytes(probe.random.int(in: 1...200))
                let started = Clock.now
                try talker.send(question)
                let (answer, _) = try talker.receive(question.count, seconds: 2)
                let took = Clock.now - started
                if let result = server.result { throw Lesson07Grading.returnedEarly(result, probe: probe, while: "three clients were connected") }
                guard answer == question, took < 0.5 else {
                    throw probe.fail(expected: "client 3's question \(round) answered within 0.5 s", actual: answer == question ? "it took \(String(format: "%.2f", took)) s" : "after 2 s it had \(answer.count) of its \(question.count) bytes back", hint: .pollSlowClientBlocks)
                }
            }
            let outcome = flood.wait()
            probe.transcript.note("client 2 wrote \(outcome.written) bytes without reading any; \(outcome.cutOff ? "then the server disconnected it" : "the server never disconnected it (4 s)")")
            guard outcome.cutOff else {
                throw probe.fail(expected: "client 2, which never reads, disconnected once it owed more than \(maxPending) bytes", actual: "it wrote \(outcome.written) bytes over 4 s and was still connected", hint: .pollNoPendingCap)
            }
            guard !silent.closedByServer(within: 0.05) else {
                throw probe.fail(expected: "client 1 (silent, but within its idle timeout of 30 s) still connected", actual: "the server closed it", hint: .pollClosesTheWrongClient)
            }
        }
    }

    // Idle connections are closed after idleTimeout (a fraction of a second here); a client
    // that keeps talking is not.
    func test7_pollClosesIdleConnections() throws {
        try grade {
            let probe = Probe("serveEchoWithPoll(_:stop:maxPending:idleTimeout:) closes a connection after idleTimeout seconds with no traffic, and not one that keeps talking")
            let idle = Double(probe.random.int(in: 150...400)) / 1000
            let server = try RunningServer(probe.random) { listener, stop in
                try serveEchoWithPoll(listener, stop: stop, maxPending: 65_536, idleTimeout: idle)
            }
            defer { server.tearDown() }
            probe.transcript.note("idleTimeout \(idle) s; client 1 says nothing; client 2 sends a byte every \(String(format: "%.2f", idle / 3)) s")
            let quiet = try EchoClient(server.address, number: 1, transcript: probe.transcript)
            let busy = try EchoClient(server.address, number: 2, transcript: probe.transcript)
            let started = Clock.now
            var quietClosedAt: Double?
            while Clock.now - started < idle * 1.8 + 0.2 {
                try busy.send([UInt8(ascii: "x")])
                let (echo, closed) = try busy.receive(1, seconds: 1)
                guard echo == [UInt8(ascii: "x")], !closed else {
                    throw probe.fail(expected: "client 2, which sends a byte every \(String(format: "%.2f", idle / 3)) s, to keep being echoed", actual: closed ? "the server closed it after \(String(format: "%.2f", Clock.now - started)) s" : "no echo within 1 s", hint: closed ? .pollIdleWrongClock : .pollSlowClientBlocks)
                }
                if quietClosedAt == nil, quiet.closedByServer(within: idle / 3) { quietClosedAt = Clock.now - started }
            }
            if let result = server.result { throw Lesson07Grading.returnedEarly(result, probe: probe, while: "two clients were connected") }
            guard let closedAt = quietClosedAt else {
                throw probe.fail(expected: "client 1 closed about \(idle) s after it connected", actual: "it was still open after \(String(format: "%.2f", idle * 1.8 + 0.2)) s", hint: .pollNoIdleTimeout)
            }
            guard closedAt >= idle * 0.8 else {
                throw probe.fail(expected: "client 1 closed about \(idle) s after it connected, not before", actual: "it was closed after \(String(format: "%.2f", closedAt)) s", hint: .pollIdleWrongClock)
            }
        }
    }

    // Clients that reset, vanish mid-message or half-close: the first two leave nothing
    // behind, the last gets its echo and then end-of-file; and an idle server with
    // connections open uses no processor time (POLLOUT asked only while output waits).
    func test8_pollLeavesNothingBehindAndDoesNotSpin() throws {
        try grade {
            let probe = Probe("serveEchoWithPoll(_:stop:maxPending:idleTimeout:) closes the connections of clients that reset or vanish, finishes a half-closed one, and uses no processor time while nothing happens")
            let baseline = DescriptorCensus.take()
            let server = try RunningServer(probe.random) { listener, stop in
                try serveEchoWithPoll(listener, stop: stop, maxPending: 1 << 20, idleTimeout: 30)
            }
            defer { server.tearDown() }
            let steady = try EchoClient(server.address, number: 1, transcript: probe.transcript)
            let piece = probe.random.bytes(probe.random.int(in: 1...5000))
            try steady.send(piece)
            guard try steady.receive(piece.count, seconds: 2).bytes == piece else {
                throw probe.fail(expected: "client 1's \(piece.count) bytes echoed", actual: "they did not all come back within 2 s", hint: .pollLosesBytes)
            }
            let spent = server.cpuWhileWaiting(0.4)
            guard spent < 0.1 else {
                throw probe.fail(expected: "a server with one quiet client to use next to no processor time", actual: "its thread used \(String(format: "%.2f", spent)) s of processor time in 0.40 s with nothing to do", hint: .pollAlwaysPollout)
            }
            // A reset, a client that vanishes with bytes unsent to it, a half-close.
            let resetter = try EchoClient(server.address, number: 2, transcript: probe.transcript)
            try resetter.send(probe.random.bytes(probe.random.int(in: 1...3000)))
            try resetter.socket.resetOnClose()
            resetter.socket.close()
            let vanisher = try EchoClient(server.address, number: 3, transcript: probe.transcript)
            try vanisher.send(probe.random.bytes(probe.random.int(in: 1...3000)))
            vanisher.socket.close()
            let halfCloser = try EchoClient(server.address, number: 4, transcript: probe.transcript)
            let last = probe.random.bytes(probe.random.int(in: 1...20_000))
            try halfCloser.send(last)
            try halfCloser.socket.shutdown(ShutdownHow.write)
            probe.transcript.note("client 2 sent and reset; client 3 sent and closed without reading; client 4 sent \(last.count) bytes and shut down its writing side")
            let (echo, closed) = try halfCloser.receive(last.count + 1, seconds: 2)
            guard echo == last else {
                throw probe.fail(expected: "client 4, which shut down its writing side, to get back its \(last.count) bytes", actual: "it got \(echo.count)", hint: .pollHalfClose)
            }
            guard closed || halfCloser.closedByServer(within: 1) else {
                throw probe.fail(expected: "client 4's connection closed once its echo was sent", actual: "it stayed open", hint: .pollHalfClose)
            }
            halfCloser.socket.close()
            let spentAfter = server.cpuWhileWaiting(0.4)
            guard spentAfter < 0.1 else {
                throw probe.fail(expected: "no processor time used once those clients had gone", actual: "the server's thread used \(String(format: "%.2f", spentAfter)) s in 0.40 s", hint: .pollSpinsOnClosed)
            }
            let left = Lesson07Grading.leftOpen(since: baseline, server: server, except: [steady.socket.fd])
            guard left.count <= 1 else {  // the server's end of client 1's connection
                throw probe.fail(expected: "only client 1's connection still open on the server's side", actual: "\(left.count) server-side descriptors still open: \(left.sorted())", hint: .pollLeaks)
            }
            if let result = server.result { throw Lesson07Grading.returnedEarly(result, probe: probe, while: "client 1 was still connected") }
        }
    }

    // Stop: every connection closed, the listener left open, the stop byte left in the pipe.
    func test9_pollStopsAndClosesEverything() throws {
        try grade {
            let probe = Probe("serveEchoWithPoll(_:stop:maxPending:idleTimeout:) returns soon after the stop pipe becomes readable, having closed every connection it accepted, and leaves the listener and the stop pipe alone")
            let baseline = DescriptorCensus.take()
            let server = try RunningServer(probe.random) { listener, stop in
                try serveEchoWithPoll(listener, stop: stop, maxPending: 65_536, idleTimeout: 30)
            }
            defer { server.tearDown() }
            let count = probe.random.int(in: 1...6)
            var clients: [EchoClient] = []
            for number in 1...count {
                let client = try EchoClient(server.address, number: number, transcript: probe.transcript)
                try client.send([UInt8(number)])
                _ = try client.receive(1, seconds: 2)
                clients.append(client)
            }
            server.requestStop()
            try Lesson07Grading.expectNormalReturn("serveEchoWithPoll", server.waitForReturn, within: 1, after: "the stop byte", when: "when stopped", probe: probe, hint: .pollStop)
            for (index, client) in clients.enumerated() where !client.closedByServer(within: 0.5) {
                throw probe.fail(expected: "every client's connection closed when the server stops", actual: "client \(index + 1) of \(count) was still open", hint: .pollLeaks)
            }
            guard server.stopByteStillThere else {
                throw probe.fail(expected: "the stop byte left in the pipe", actual: "the pipe was empty: the server read it", hint: .stopRead)
            }
            guard Inspect.isOpen(server.listener.fd) else {
                throw probe.fail(expected: "the listener left open (it is the caller's)", actual: "it was closed", hint: .listenerClosed)
            }
            clients.forEach { $0.socket.close() }
            let left = Lesson07Grading.leftOpen(since: baseline, server: server)
            guard left.isEmpty else {
                throw probe.fail(expected: "no descriptor of the server's left open after it returned", actual: "still open: \(left.sorted())", hint: .pollLeaks)
            }
        }
    }

    // Rule 1: a listener that is not open, or not a socket: an error, at once.
    func test10_pollReportsABadListener() throws {
        try grade {
            let probe = Probe("serveEchoWithPoll(_:stop:maxPending:idleTimeout:) throws SocketError at once when the listener is not usable: a closed descriptor, a pipe, a socket that is not listening")
            try Lesson07Grading.expectBadListenersRefused(probe) { listener, stop in
                try serveEchoWithPoll(listener, stop: stop, maxPending: 65_536, idleTimeout: 30)
            }
        }
    }
}
