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
    // returns, the server closes that connection (the client reads end-of-file). More clients
    // than the limit, so the room a handler leaves must be used again.
    func test1_threadsServeEveryClientOnce() throws {
        try grade {
            let probe = Probe("serveWithThreads(_:limit:stop:handler:) hands each client to the handler once, on its own connection, and closes it after the handler returns")
            let limit = probe.random.int(in: 1...4)
            let count = limit + probe.random.int(in: 2...5)
            let calls = HandlerLog()
            let server = try RunningServer(probe.random, host: Lesson07Grading.host(probe.random)) { listener, stop in
                try serveWithThreads(listener, limit: limit, stop: stop) { fd in
                    // The handler reads the client's line, answers, and returns.
                    let (identity, peer, described) = (Inspect.identity(fd), try? Inspect.peerAddress(fd), Inspect.describe(fd))
                    var line: [UInt8] = []
                    while line.last != 10, let chunk = try? Inspect.receive(fd, limit: 64, seconds: 2), !chunk.isEmpty { line += chunk }
                    _ = (Array("hello, ".utf8) + line).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
                    let intact = identity != nil && Inspect.identity(fd) == identity
                    calls.record(HandlerLog.Call(line: line, peer: peer, described: described, intact: intact))
                }
            }
            defer { server.tearDown() }
            probe.transcript.note("\(count) clients, limit \(limit), listener on \(server.address); the handler reads one line and answers \"hello, \" and the line")
            var clients: [EchoClient] = []
            for number in 1...count { clients.append(try EchoClient(server.address, number: number, transcript: probe.transcript)) }
            let addresses = Set(clients.compactMap { try? $0.socket.localAddress })
            let unsent = try clients.indices.filter { !(try clients[$0].send(Array("client \($0 + 1)\n".utf8))) }
            // A handler whose descriptor was closed under it, or that was given anything but
            // its client's connection (the listener, a number another accept has reused), is
            // the mistake, whatever the clients saw because of it.
            func handlerMisused() -> CheckFailure? {
                if calls.calls.contains(where: { !$0.intact }) {
                    return probe.fail(expected: "each connection closed once its handler has returned, not before", actual: "a handler's descriptor was closed (or its number taken by another connection) while the handler was still using it", hint: .threadsCloseAfterHandler)
                }
                guard let stranger = calls.calls.first(where: { call in call.peer.map { !addresses.contains($0) } ?? true }) else { return nil }
                return probe.fail(expected: "each handler given the connection accept returned for its client", actual: "a handler was given \(stranger.described)", hint: .threadsOwnConnection)
            }
            if let index = unsent.first {
                if let failure = handlerMisused() { throw failure }
                throw Lesson07Grading.fail(probe, server, while: "\(count) clients were being served", expected: "client \(index + 1)'s line read by its handler", actual: "the server reset the connection before the client could send its line", hint: .threadsCloseAfterHandler)
            }
            for (index, client) in clients.enumerated() {
                let line = Array("client \(index + 1)\n".utf8)
                let (bytes, closed) = try client.receive(line.count + 8, seconds: 3)
                guard bytes == Array("hello, ".utf8) + line else {
                    if let failure = handlerMisused() { throw failure }
                    throw Lesson07Grading.fail(probe, server, while: "\(count) clients were being served", expected: "client \(index + 1) to be answered \"hello, client \(index + 1)\\n\" by the handler", actual: "it got \(escaped(bytes))\(closed ? ", then end-of-file" : "") within 3 s", hint: bytes.isEmpty ? .threadsServeEveryone : .threadsOwnConnection)
                }
                guard closed || client.closedByServer(within: 2) else {
                    throw Lesson07Grading.fail(probe, server, while: "\(count) clients were being served", expected: "the connection closed once the handler returned", actual: "client \(index + 1) got its answer, and the connection stayed open for 2 s more", hint: .threadsCloseAfterHandler)
                }
            }
            if let failure = handlerMisused() { throw failure }
            let handled = calls.calls.count
            guard handled == count else {
                throw probe.fail(expected: "the handler called \(count) times, once per client", actual: "it was called \(handled) times", hint: .threadsServeEveryone)
            }
            if let result = server.result { throw Lesson07Grading.returnedEarly(result, probe: probe, while: "its clients had been served") }
            // Idle now: the stop byte must end it at once (poll watches the stop pipe too).
            try Lesson07Grading.expectReturnOnStop(probe, server, "serveWithThreads, with no handler running,", hint: .threadsStop)
        }
    }

    // At most `limit` handlers at once, and exactly `limit` while that many clients wait:
    // more is no cap, fewer serves the crowd one at a time. The clients over the limit wait
    // in the listen backlog (read from the kernel), not accepted and parked somewhere.
    // (A limit of 1 is tried by test1: here it would not tell one at a time from the cap.)
    func test2_threadsHoldTheLimit() throws {
        try grade {
            let probe = Probe("serveWithThreads(_:limit:stop:handler:) runs at most `limit` handlers at once, and that many while clients wait in the backlog")
            let limit = probe.random.int(in: 2...4)
            let count = limit + probe.random.int(in: 2...3)
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
                    // None too few at first: one at a time. Later: a handler that returned
                    // left no room behind (the count or the loop's wake-up was forgotten).
                    let hint: Hint = running > expected ? .threadsNoCap : served == 0 ? .threadsTooFew : .threadsMakeRoom
                    let situation = served == 0 ? "" : ", after \(served) handler\(served == 1 ? " had" : "s had") returned"
                    throw probe.fail(expected: "\(expected) handlers running (\(count - served) clients not yet served, limit \(limit))", actual: "\(running) running after 2 s\(situation)", hint: hint)
                }
                let waiting = count - served - running
                if let queued = Lesson07Grading.acceptQueue(server.listener.fd), queued < waiting {
                    throw probe.fail(expected: "the \(waiting) clients not yet handed to a handler left in the listen backlog (accept nothing at the limit)", actual: "only \(queued) still waited there (TCP_INFO on the listener, read from the kernel): the server had accepted \(waiting - queued) it had no handler running for", hint: .threadsNoCap)
                }
                gate.letOneGo()
            }
        }
    }

    // Stop: returns promptly when idle, waits for handlers still running (without spinning),
    // never reads the stop pipe, leaves the listener open, closes the handler's connection
    // exactly once, and uses no processor time while it waits.
    func test3_threadsStopPromptlyWithoutSpinning() throws {
        try grade {
            let probe = Probe("serveWithThreads(_:limit:stop:handler:) waits without using the processor, and returns soon after the stop pipe becomes readable, once its handlers have returned")
            let gate = Gate()
            let closes = CloseCounts()
            let baseline = DescriptorCensus.take()
            let server = try RunningServer(probe.random, host: Lesson07Grading.host(probe.random)) { listener, stop in
                try serveWithThreads(listener, limit: 2, stop: stop) { fd in closes.watch(fd) { gate.pass() } }
            }
            defer {
                gate.openForever()
                server.tearDown()
            }
            let idle = server.cpuWhileWaiting(0.2)
            guard idle < 0.02 else {
                throw probe.fail(expected: "a server with no clients to use next to no processor time", actual: "its thread used \(String(format: "%.3f", idle)) s of processor time in 0.20 s with nothing to do", hint: .spinning)
            }
            let client = try EchoClient(server.address, number: 1, transcript: probe.transcript)
            guard gate.waitForRunning(1, seconds: 2) == 1 else {
                throw Lesson07Grading.fail(probe, server, while: "a client had connected", expected: "the client handed to the handler", actual: "no handler was running after 2 s", hint: .threadsServeEveryone)
            }
            server.requestStop()
            probe.transcript.note("the harness wrote a byte to the stop pipe while a handler was still running")
            // Watched as any wait is (processor time, and whether the scheduler holds the
            // thread runnable): a loop that spins until the handlers end is caught even when
            // the machine is too busy to give it much processor time.
            let waiting = server.cpuWhileWaiting(0.2)
            if let result = server.waitForReturn(0) {
                throw probe.fail(expected: "serveWithThreads to wait for the running handler before it returns", actual: "it returned (\(Lesson07Grading.describe(result))) while the handler was still running", hint: .threadsStopWaits)
            }
            guard waiting < 0.02 else {
                throw probe.fail(expected: "serveWithThreads to wait for its running handler without using the processor (block in poll)", actual: "its thread used \(String(format: "%.3f", waiting)) s of processor time in 0.20 s of waiting", hint: .spinning)
            }
            gate.openForever()
            guard let result = server.waitForReturn(1.5) else {
                throw probe.fail(expected: "serveWithThreads to return within 1.5 s of its last handler", actual: "it was still running", hint: .threadsStop)
            }
            if case .failure(let error) = result {
                throw probe.fail(expected: "serveWithThreads to return normally when stopped", actual: "it threw \(error)", hint: .threadsStop)
            }
            guard server.stopByteStillThere else {
                throw probe.fail(expected: "the stop byte left in the pipe (other servers may watch it too)", actual: "the pipe was empty: the server read it", hint: .stopRead)
            }
            guard Inspect.isOpen(server.listener.fd) else {
                throw probe.fail(expected: "the listener left open (it is the caller's)", actual: "it was closed", hint: .listenerClosed)
            }
            guard client.closedByServer(within: 1) else {
                throw probe.fail(expected: "the client's connection closed after its handler returned", actual: "it stayed open", hint: .threadsCloseAfterHandler)
            }
            // Counted on the handler's thread (where the close belongs): a second close(fd)
            // may take a descriptor another thread has just opened under that number.
            closes.waitForTheirThreads(seconds: 1)
            for count in closes.all {
                if let times = count.closesSoFar, times > 1 {
                    throw probe.fail(expected: "the handler's connection (fd \(count.fd)) closed exactly once, after the handler returned", actual: "its thread called close(\(count.fd)) \(times) times", hint: .threadsCloseAfterHandler)
                }
            }
            client.socket.close()
            let left = Lesson07Grading.leftOpen(since: baseline, server: server)
            guard left.isEmpty else {
                throw probe.fail(expected: "no descriptor of the server's left open after it returned", actual: "still open: \(left)", hint: .threadsCloseAfterHandler)
            }
        }
    }

    // Rule 1: a listener that is no socket at all, or not open, or not listening: an error,
    // at once. And one that breaks while the server runs: an error, not a loop for ever.
    func test4_threadsReportABadListener() throws {
        try grade {
            let probe = Probe("serveWithThreads(_:limit:stop:handler:) throws SocketError at once when the listener is not usable: a closed descriptor, a pipe, a socket that is not listening, a listener shut down while it serves")
            let closed = ErrorInputs.closedDescriptor(probe.random)
            try Lesson07Grading.expectFailure(probe, "a closed descriptor (\(closed))", codes: [EBADF]) { stop in
                try serveWithThreads(closed, limit: 2, stop: stop) { _ in }
            }
            try ErrorInputs.withPipe { pipeEnd in
                try Lesson07Grading.expectFailure(probe, "the read end of a pipe", codes: [ENOTSOCK]) { stop in
                    try serveWithThreads(pipeEnd, limit: 2, stop: stop) { _ in }
                }
            }
            let idle = try HarnessSocket.make(probe.random.pick([.inet, .inet6]))
            defer { idle.close() }
            try Lesson07Grading.expectFailure(probe, "a TCP socket that is not listening", codes: [EINVAL]) { stop in
                try serveWithThreads(idle.fd, limit: 2, stop: stop) { _ in }
            }
            // A listener that breaks while the server runs: accept fails with EINVAL.
            let server = try RunningServer(probe.random) { listener, stop in
                try serveWithThreads(listener, limit: 2, stop: stop) { _ in }
            }
            defer { server.tearDown() }
            _ = try Lesson07Grading.expectThrowWhenTheListenerBreaks(probe, server: server) { client in
                guard client.closedByServer(within: 2) else {
                    throw Lesson07Grading.fail(probe, server, while: "a client was connected", expected: "the client served (a handler that returns at once) and its connection closed", actual: "it stayed open for 2 s", hint: .threadsServeEveryone)
                }
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
            let server = try RunningServer(probe.random, host: Lesson07Grading.host(probe.random)) { listener, stop in
                try serveEchoWithPoll(listener, stop: stop, maxPending: 1 << 20, idleTimeout: 30)
            }
            defer { server.tearDown() }
            probe.transcript.note("\(count) clients, listener on \(server.address)")
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
                    guard received[index] == sent[index] else {
                        let difference = GradingHarness.difference(expected: sent[index], actual: received[index]) ?? ""
                        let others = sent.indices.filter { $0 != index }.map { sent[$0] }
                        // Closed, though it did nothing wrong (idleTimeout 30 s, maxPending 1 MB):
                        // the server closed a client that was not at fault.
                        let hint = closed && sent[index].starts(with: received[index]) ? .pollClosesTheWrongClient : Lesson07Grading.echoHint(received: received[index], sent: sent[index], others: others)
                        throw Lesson07Grading.fail(probe, server, while: "\(count) clients were talking to it", expected: "client \(index + 1) to get back its \(sent[index].count) bytes", actual: "it got \(received[index].count) bytes\(closed ? " and end-of-file" : "") within 2 s; \(difference)", hint: hint)
                    }
                }
            }
        }
    }

    // A client that sends nothing, and one that sends and never reads, must not slow the
    // others; the one that never reads is cut off once it owes more than maxPending. The
    // server's sockets get small buffers (set on the listener, inherited on accept), so what
    // the flooding client manages to write measures what the server kept: past maxPending
    // and all the kernel can hold, the server has no cap.
    func test6_pollSlowClientsDoNotDelayOthers() throws {
        try grade {
            let probe = Probe("serveEchoWithPoll(_:stop:maxPending:idleTimeout:) keeps answering other clients at once while one says nothing and one never reads; the one that never reads is disconnected once it owes more than maxPending bytes")
            let maxPending = probe.random.int(in: 4096...65_536)
            let server = try RunningServer(probe.random, host: Lesson07Grading.host(probe.random), socketBuffers: 32_768) { listener, stop in
                try serveEchoWithPoll(listener, stop: stop, maxPending: maxPending, idleTimeout: 30)
            }
            defer { server.tearDown() }
            // What the kernel holds with these buffers is about 110 KB; half a megabyte more
            // than maxPending is a server that keeps what it should have dropped.
            let limit = maxPending + 512 * 1024
            probe.transcript.note("maxPending \(maxPending); the server's sockets have 32 KB buffers; client 1 connects and says nothing; client 2 sends and never reads; client 3 asks and waits for each answer")
            let silent = try EchoClient(server.address, number: 1, transcript: probe.transcript)
            let hog = try EchoClient(server.address, number: 2, transcript: probe.transcript, receiveBuffer: 4096, sendBuffer: 16_384)
            let talker = try EchoClient(server.address, number: 3, transcript: probe.transcript)
            defer { silent.socket.close() }
            // The hog writes without reading until the server disconnects it (or it has written
            // `limit` bytes, or 3 s pass).
            let flood = Lesson07Grading.flood(hog, limit: limit, seconds: 3)
            for round in 1...8 {
                let question = probe.random.bytes(probe.random.int(in: 1...200))
                let started = Clock.now
                try talker.send(question)
                let (answer, _) = try talker.receive(question.count, seconds: 2)
                let took = Clock.now - started
                guard answer == question, took < 0.5 else {
                    // Its own bytes, late or some missing: the loop was held up. Bytes it never
                    // sent: the flooding client's, from a buffer they share.
                    let late = answer.isEmpty || question.starts(with: answer)
                    let hint = late ? .pollSlowClientBlocks : Lesson07Grading.echoHint(received: answer, sent: question, others: [[UInt8](repeating: 0x61, count: 64)])
                    throw Lesson07Grading.fail(probe, server, while: "three clients were connected", expected: "client 3's question \(round) answered within 0.5 s", actual: answer == question ? "it took \(String(format: "%.2f", took)) s" : "after 2 s it had \(answer.count) of its \(question.count) bytes back: \(escaped(answer))", hint: hint)
                }
            }
            let outcome = flood.wait()
            probe.transcript.note("client 2 wrote \(outcome.written) bytes without reading any; \(outcome.cutOff ? "then the server disconnected it" : "the server did not disconnect it")")
            if let result = server.result { throw Lesson07Grading.returnedEarly(result, probe: probe, while: "client 2 was writing") }
            guard outcome.cutOff, outcome.written < limit else {
                // Less than the kernel and maxPending hold, and still connected: the server
                // stopped reading it, and forgot it without closing it.
                let forgotten = outcome.written < limit
                throw probe.fail(expected: "client 2, which never reads, disconnected once it owed more than \(maxPending) bytes (with these buffers, before it could write \(limit))", actual: "it wrote \(outcome.written) bytes and was \(outcome.cutOff ? "only then disconnected" : forgotten ? "still connected 3 s later: the server no longer read from it, yet kept it open" : "still connected")", hint: forgotten ? .pollLeaks : .pollNoPendingCap)
            }
            guard !silent.closedByServer(within: 0.05) else {
                throw probe.fail(expected: "client 1 (silent, but within its idle timeout of 30 s) still connected", actual: "the server closed it", hint: .pollClosesTheWrongClient)
            }
        }
    }

    // Idle connections are closed after idleTimeout (a fraction of a second here); a client
    // that keeps talking is not; and the timeout is waited for in poll, not in a loop.
    func test7_pollClosesIdleConnections() throws {
        try grade {
            let probe = Probe("serveEchoWithPoll(_:stop:maxPending:idleTimeout:) closes a connection after idleTimeout seconds with no traffic, and not one that keeps talking")
            let idle = Double(probe.random.int(in: 120...250)) / 1000
            let server = try RunningServer(probe.random, host: Lesson07Grading.host(probe.random)) { listener, stop in
                try serveEchoWithPoll(listener, stop: stop, maxPending: 65_536, idleTimeout: idle)
            }
            defer { server.tearDown() }
            probe.transcript.note("idleTimeout \(idle) s; client 1 says nothing; client 2 sends a byte every \(String(format: "%.2f", idle / 3)) s")
            let quiet = try EchoClient(server.address, number: 1, transcript: probe.transcript)
            let busy = try EchoClient(server.address, number: 2, transcript: probe.transcript)
            let started = Clock.now
            let cpuBefore = server.cpuSeconds ?? 0
            var quietClosedAt: Double?
            while Clock.now - started < idle * 1.6 + 0.15 {
                try busy.send([UInt8(ascii: "x")])
                let (echo, closed) = try busy.receive(1, seconds: 1)
                guard echo == [UInt8(ascii: "x")], !closed else {
                    throw Lesson07Grading.fail(probe, server, while: "two clients were connected", expected: "client 2, which sends a byte every \(String(format: "%.2f", idle / 3)) s, to keep being echoed", actual: closed ? "the server closed it after \(String(format: "%.2f", Clock.now - started)) s" : "no echo within 1 s", hint: closed ? .pollIdleWrongClock : .pollSlowClientBlocks)
                }
                if quietClosedAt != nil {
                    Thread.sleep(forTimeInterval: idle / 3)
                } else if quiet.closedByServer(within: idle / 3) {
                    quietClosedAt = Clock.now - started
                }
            }
            let elapsed = Clock.now - started
            let used = max(0, (server.cpuSeconds ?? cpuBefore) - cpuBefore)
            if let result = server.result { throw Lesson07Grading.returnedEarly(result, probe: probe, while: "two clients were connected") }
            guard used < elapsed * 0.1 else {
                throw probe.fail(expected: "a server waiting for the next idle deadline to use next to no processor time (poll's timeout in milliseconds, until the next connection is due)", actual: "its thread used \(String(format: "%.2f", used)) s of processor time in \(String(format: "%.2f", elapsed)) s with a byte to echo every \(String(format: "%.2f", idle / 3)) s", hint: .spinning)
            }
            guard let closedAt = quietClosedAt else {
                throw probe.fail(expected: "client 1 closed about \(idle) s after it connected", actual: "it was still open after \(String(format: "%.2f", idle * 1.6 + 0.15)) s", hint: .pollNoIdleTimeout)
            }
            guard closedAt >= idle * 0.8 else {
                throw probe.fail(expected: "client 1 closed about \(idle) s after it connected, not before", actual: "it was closed after \(String(format: "%.2f", closedAt)) s", hint: .pollIdleWrongClock)
            }
        }
    }

    // Clients that reset, vanish mid-message or half-close: the first two leave nothing
    // behind, the last gets its echo and then end-of-file, and the client that stayed is
    // still served. A server with nothing to do uses no processor time: with no client at
    // all (no zero timeout), with a quiet client (POLLOUT asked only while output waits), and
    // once a client has closed its end (no POLLIN on an end-of-file for ever).
    func test8_pollLeavesNothingBehindAndDoesNotSpin() throws {
        try grade {
            let probe = Probe("serveEchoWithPoll(_:stop:maxPending:idleTimeout:) closes the connections of clients that reset or vanish, finishes a half-closed one, and uses no processor time while nothing happens")
            let baseline = DescriptorCensus.take()
            let server = try RunningServer(probe.random) { listener, stop in
                try serveEchoWithPoll(listener, stop: stop, maxPending: 1 << 20, idleTimeout: 30)
            }
            defer { server.tearDown() }
            let alone = server.cpuWhileWaiting(0.15)
            guard alone < 0.015 else {
                throw probe.fail(expected: "a server with no client at all to use next to no processor time", actual: "its thread used \(String(format: "%.3f", alone)) s of processor time in 0.15 s with nothing to do", hint: .spinning)
            }
            let steady = try EchoClient(server.address, number: 1, transcript: probe.transcript)
            let piece = probe.random.bytes(probe.random.int(in: 1...5000))
            try steady.send(piece)
            guard try steady.receive(piece.count, seconds: 2).bytes == piece else {
                throw Lesson07Grading.fail(probe, server, while: "one client was connected", expected: "client 1's \(piece.count) bytes echoed", actual: "they did not all come back within 2 s", hint: .pollLosesBytes)
            }
            let spent = server.cpuWhileWaiting(0.15)
            guard spent < 0.015 else {
                throw probe.fail(expected: "a server with one quiet client to use next to no processor time", actual: "its thread used \(String(format: "%.3f", spent)) s of processor time in 0.15 s with nothing to do", hint: .pollAlwaysPollout)
            }
            // Two resets (one once its echo has come back: the server's next recv fails with
            // ECONNRESET; one right after sending), a client that vanishes with bytes unsent to
            // it, a half-close.
            let resetter = try EchoClient(server.address, number: 2, transcript: probe.transcript)
            let hello = probe.random.bytes(probe.random.int(in: 1...3000))
            try resetter.send(hello)
            guard try resetter.receive(hello.count, seconds: 2).bytes == hello else {
                throw Lesson07Grading.fail(probe, server, while: "two clients were connected", expected: "client 2's \(hello.count) bytes echoed", actual: "they did not all come back within 2 s", hint: .pollLosesBytes)
            }
            let abrupt = try EchoClient(server.address, number: 3, transcript: probe.transcript)
            try abrupt.send(probe.random.bytes(probe.random.int(in: 1...3000)))
            for client in [resetter, abrupt] {
                try client.socket.resetOnClose()
                client.socket.close()
                probe.transcript.record(client.connection, .reset(by: .harness))
            }
            let vanisher = try EchoClient(server.address, number: 4, transcript: probe.transcript)
            try vanisher.send(probe.random.bytes(probe.random.int(in: 1...3000)))
            vanisher.socket.close()
            // Once the server has dealt with those three (their descriptors closed: at most 1 s),
            // the client that stayed is served as before: one client's end is not everyone's.
            let settled = Clock.now + 1
            while Clock.now < settled, Lesson07Grading.leftOpen(since: baseline, server: server, except: [steady.socket.fd]).count > 1 {
                Thread.sleep(forTimeInterval: 0.01)
            }
            let more = probe.random.bytes(probe.random.int(in: 1...3000))
            try steady.send(more)
            let (again, gone) = try steady.receive(more.count, seconds: 1)
            guard again == more else {
                throw Lesson07Grading.fail(probe, server, while: "client 1 was still connected", expected: "client 1, still connected, to get its next \(more.count) bytes back once clients 2, 3 and 4 had gone", actual: gone ? "the server had closed it (after \(again.count) bytes)" : "it got \(again.count) of them within 1 s", hint: gone ? .pollClosesTheWrongClient : .pollSlowClientBlocks)
            }
            let halfCloser = try EchoClient(server.address, number: 5, transcript: probe.transcript)
            let last = probe.random.bytes(probe.random.int(in: 1...20_000))
            try halfCloser.send(last)
            try halfCloser.socket.shutdown(ShutdownHow.write)
            probe.transcript.note("client 2 reset once its echo had come back; client 3 sent and reset; client 4 sent and closed without reading; client 5 sent \(last.count) bytes and shut down its writing side")
            let (echo, closed) = try halfCloser.receive(last.count + 1, seconds: 2)
            guard echo == last else {
                throw Lesson07Grading.fail(probe, server, while: "clients 2, 3 and 4 had gone", expected: "client 5, which shut down its writing side, to get back its \(last.count) bytes", actual: "it got \(echo.count)\(closed ? ", then end-of-file" : "")", hint: last.starts(with: echo) ? .pollHalfClose : Lesson07Grading.echoHint(received: echo, sent: last, others: [piece]))
            }
            let spentAfter = server.cpuWhileWaiting(0.15)
            guard spentAfter < 0.015 else {
                throw probe.fail(expected: "no processor time used once those clients had gone", actual: "the server's thread used \(String(format: "%.3f", spentAfter)) s in 0.15 s", hint: .pollSpinsOnClosed)
            }
            guard closed || halfCloser.closedByServer(within: 1) else {
                throw probe.fail(expected: "client 5's connection closed once its echo was sent", actual: "it stayed open", hint: .pollHalfClose)
            }
            halfCloser.socket.close()
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
            let server = try RunningServer(probe.random, host: Lesson07Grading.host(probe.random)) { listener, stop in
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
            if let result = server.result { throw Lesson07Grading.returnedEarly(result, probe: probe, while: "\(count) clients were connected") }
            try Lesson07Grading.expectReturnOnStop(probe, server, "serveEchoWithPoll", hint: .pollStop)
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

    // Rule 1: a listener that is not open, or not a socket, or not listening: an error, at
    // once. And one that breaks while the server runs: an error, with the connections closed.
    func test10_pollReportsABadListener() throws {
        try grade {
            let probe = Probe("serveEchoWithPoll(_:stop:maxPending:idleTimeout:) throws SocketError at once when the listener is not usable: a closed descriptor, a pipe, a socket that is not listening, a listener shut down while it serves")
            let closed = ErrorInputs.closedDescriptor(probe.random)
            try Lesson07Grading.expectFailure(probe, "a closed descriptor (\(closed))", codes: [EBADF]) { stop in
                try serveEchoWithPoll(closed, stop: stop, maxPending: 65_536, idleTimeout: 30)
            }
            try ErrorInputs.withPipe { pipeEnd in
                try Lesson07Grading.expectFailure(probe, "the read end of a pipe", codes: [ENOTSOCK]) { stop in
                    try serveEchoWithPoll(pipeEnd, stop: stop, maxPending: 65_536, idleTimeout: 30)
                }
            }
            let idle = try HarnessSocket.make(probe.random.pick([.inet, .inet6]))
            defer { idle.close() }
            try Lesson07Grading.expectFailure(probe, "a TCP socket that is not listening", codes: [EINVAL]) { stop in
                try serveEchoWithPoll(idle.fd, stop: stop, maxPending: 65_536, idleTimeout: 30)
            }
            let server = try RunningServer(probe.random) { listener, stop in
                try serveEchoWithPoll(listener, stop: stop, maxPending: 65_536, idleTimeout: 30)
            }
            defer { server.tearDown() }
            let client = try Lesson07Grading.expectThrowWhenTheListenerBreaks(probe, server: server) { client in
                let hello = probe.random.bytes(probe.random.int(in: 1...100))
                try client.send(hello)
                guard try client.receive(hello.count, seconds: 2).bytes == hello else {
                    throw Lesson07Grading.fail(probe, server, while: "a client was connected", expected: "the client's \(hello.count) bytes echoed", actual: "they did not all come back within 2 s", hint: .pollLosesBytes)
                }
            }
            guard client.closedByServer(within: 0.5) else {
                throw probe.fail(expected: "the server's connections closed before it throws", actual: "the client's connection was still open", hint: .pollLeaks)
            }
        }
    }

    // Rule 4: short sends, and bytes that wait. The server's sockets have small buffers, and
    // so do clients 1 and 2: each sends far more than the kernel holds, then reads it back
    // slowly, with pauses shorter than idleTimeout that add up to more than it. Meanwhile
    // client 3 asks a question and leaves, and client 2 shuts down its sending side. Each gets
    // back exactly its own bytes, in order (what send did not take is kept, what recv brings
    // is appended); client 1 is not closed while bytes still go to it (a send is traffic);
    // client 2 gets its whole echo before its end-of-file; and the server does not spin
    // while the bytes wait (no POLLOUT on a connection that cannot take more, no POLLIN on one
    // past its end-of-file).
    func test11_pollKeepsWhatSendCouldNotTake() throws {
        try grade {
            let probe = Probe("serveEchoWithPoll(_:stop:maxPending:idleTimeout:) keeps what send could not take, for each client apart and in order, counts its sends as traffic, and finishes a half-closed client's echo before closing it, without spinning while the bytes wait")
            let idle = Double(probe.random.int(in: 300...360)) / 1000
            // Client 1's first third (100 KB or more) is more than the kernel can hold on the way
            // (the server's 64 KB send buffer and the client's 4 KB receive buffer): a server
            // that loses what a short send left is caught on client 1, before client 2 reads.
            let sizes = [probe.random.int(in: 300_000...450_000), probe.random.int(in: 80_000...160_000)]
            let maxPending = sizes.max()! + probe.random.int(in: 0...4096)
            let pause = idle * 0.55
            let server = try RunningServer(probe.random, host: Lesson07Grading.host(probe.random), socketBuffers: 32_768) { listener, stop in
                try serveEchoWithPoll(listener, stop: stop, maxPending: maxPending, idleTimeout: idle)
            }
            defer { server.tearDown() }
            probe.transcript.note("idleTimeout \(idle) s, maxPending \(maxPending); the server's sockets have 32 KB buffers; clients 1 and 2 have 4 KB receive buffers, send \(sizes[0]) and \(sizes[1]) bytes and read them back in pieces, with pauses of \(String(format: "%.2f", pause)) s; client 2 shuts down its sending side once it has sent")
            let alone = server.cpuWhileWaiting(0.15)
            guard alone < 0.015 else {
                throw probe.fail(expected: "a server with no client at all to use next to no processor time", actual: "its thread used \(String(format: "%.3f", alone)) s of processor time in 0.15 s with nothing to do", hint: .spinning)
            }
            let slow = try (1...2).map { try EchoClient(server.address, number: $0, transcript: probe.transcript, receiveBuffer: 4096) }
            let payloads = sizes.map { probe.random.bytes($0) }
            for index in 0..<2 {
                guard try slow[index].send(payloads[index], seconds: 1.5) else {
                    throw Lesson07Grading.fail(probe, server, while: "two clients were connected", expected: "the server to read all \(sizes[index]) bytes of client \(index + 1) (maxPending is \(maxPending)) while it cannot send them all back yet", actual: "it stopped reading: client \(index + 1) could not send them within 1.5 s", hint: .pollSlowClientBlocks)
                }
            }
            let sentAt = Clock.now
            // The pause, first part: both clients are owed more than their sockets can take,
            // so no POLLOUT is ready; and a connection is due in idleTimeout, not now.
            let firstPart = max(0.05, sentAt + pause * 0.4 - Clock.now)
            // A loop that spins is runnable all along and is judged by that (cpuWhileWaiting
            // then returns the whole window); the processor time allowed is for the server
            // finishing the copies of a few hundred kilobytes as the window opens.
            let owing = server.cpuWhileWaiting(firstPart)
            guard owing < max(0.025, firstPart * 0.25) else {
                throw Lesson07Grading.fail(probe, server, while: "two clients were connected", expected: "no processor time used while clients 1 and 2 read nothing (their sockets can take no more, and no connection is due before idleTimeout)", actual: "the server's thread used \(String(format: "%.3f", owing)) s of processor time in \(String(format: "%.2f", firstPart)) s", hint: .spinning)
            }
            // Client 3 asks a question meanwhile, gets its answer (its own bytes, at once), and
            // leaves; client 2 shuts down its sending side.
            let asker = try EchoClient(server.address, number: 3, transcript: probe.transcript)
            let question = probe.random.bytes(probe.random.int(in: 1...200))
            try asker.send(question)
            let (answer, _) = try asker.receive(question.count, seconds: 0.5)
            guard answer == question else {
                let hint = question.starts(with: answer) ? .pollSlowClientBlocks : Lesson07Grading.echoHint(received: answer, sent: question, others: payloads)
                throw Lesson07Grading.fail(probe, server, while: "three clients were connected", expected: "client 3's \(question.count)-byte question answered at once, while clients 1 and 2 were owed bytes", actual: "within 0.5 s it got \(answer.count) bytes: \(escaped(answer))", hint: hint)
            }
            asker.socket.close()
            probe.transcript.record(asker.connection, .closed(by: .harness))
            try slow[1].socket.shutdown(ShutdownHow.write)
            probe.transcript.record(slow[1].connection, .halfClosed(by: .harness))
            // The pause, second part: client 2 is past its end-of-file and still owed bytes.
            let secondPart = max(0.05, sentAt + pause - Clock.now)
            let finishing = server.cpuWhileWaiting(secondPart)
            guard finishing < max(0.025, secondPart * 0.25) else {
                throw Lesson07Grading.fail(probe, server, while: "two clients were connected", expected: "no processor time used while client 2, past its end-of-file, waits for the rest of its echo", actual: "the server's thread used \(String(format: "%.3f", finishing)) s of processor time in \(String(format: "%.2f", secondPart)) s once clients 2 and 3 had closed their ends (an end-of-file is readable for ever)", hint: .pollSpinsOnClosed)
            }
            // Client 2 (shut down after sending) reads its whole echo, then end-of-file.
            func readClient2() throws {
                let (echo, closed) = try slow[1].receive(sizes[1] + 1, seconds: 1)
                guard Lesson07Grading.same(echo, payloads[1][...]) else {
                    let hint = !payloads[1].starts(with: echo) ? Lesson07Grading.echoHint(received: echo, sent: payloads[1], others: [payloads[0], question]) : closed ? .pollHalfClose : .pollLosesBytes
                    throw Lesson07Grading.fail(probe, server, while: "clients 1 and 2 were connected", expected: "client 2, which shut down its sending side, to get back all its \(sizes[1]) bytes before the server closes", actual: "it had \(echo.count) bytes\(closed ? ", then the server closed the connection" : " after 1 s of waiting"); \(GradingHarness.difference(expected: payloads[1], actual: echo) ?? "")", hint: hint)
                }
                guard closed || slow[1].closedByServer(within: 0.5) else {
                    throw Lesson07Grading.fail(probe, server, while: "clients 1 and 2 were connected", expected: "client 2's connection closed once its echo was sent", actual: "it stayed open", hint: .pollHalfClose)
                }
            }
            // Client 1 reads its echo in three pieces, with a pause before the second and the
            // third; client 2 reads after client 1's first piece (its pause as long as one).
            var received: [UInt8] = []
            for third in 1...3 {
                if third > 1 { Thread.sleep(forTimeInterval: pause) }
                let want = third == 3 ? sizes[0] : sizes[0] * third / 3
                let started = Clock.now
                let (bytes, closed) = try slow[0].receive(want - received.count, seconds: 1)
                let took = Clock.now - started
                received += bytes
                if received.count == want, Lesson07Grading.same(received, payloads[0].prefix(want)) {
                    if third == 1 { try readClient2() }
                    continue
                }
                let expected = "client 1 to get back its first \(want) bytes (of \(sizes[0])), in order, before idleTimeout could end it (no pause was longer than \(String(format: "%.2f", pause)) s)"
                let actual = "it had \(received.count) bytes\(closed ? ", then the server closed the connection" : " after 1 s of waiting"); \(GradingHarness.difference(expected: Array(payloads[0].prefix(want)), actual: received) ?? "")"
                guard payloads[0].starts(with: received) else {
                    throw Lesson07Grading.fail(probe, server, while: "clients 1 and 2 were connected", expected: expected, actual: actual, hint: Lesson07Grading.echoHint(received: received, sent: payloads[0], others: [payloads[1], question]))
                }
                // Right so far, then nothing: the bytes stopped coming (lost), and idleTimeout
                // ended it. Closed at once with bytes owed: during the first pause, for a send
                // that would block; later, because sending did not count as traffic.
                let hint: Hint = !closed || took >= idle / 2 ? .pollLosesBytes : third == 1 ? .pollSlowClientBlocks : .pollIdleWrongClock
                throw Lesson07Grading.fail(probe, server, while: "clients 1 and 2 were connected", expected: expected, actual: actual, hint: hint)
            }
            if let result = server.result { throw Lesson07Grading.returnedEarly(result, probe: probe, while: "clients were connected") }
        }
    }
}
