import GradingHarness
import Lesson04
import SocketKit
import XCTest

/// Grades Exercises/Lesson04/Receive.swift. Checklist rows 3 and 10 to 16.
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
            let connection = try LearnerConnection.fromClient(probe, script: [.drip(message, gap: 0.02), .receiveUntilClosed(seconds: 3)])
            defer { connection.finish() }
            let got = try probe.call("receiveExactly(_:count:)", unblock: connection.unblock, blockedHint: .recvZero) {
                try receiveExactly(connection.fd, count: message.count)
            }
            try expectBytes(message, got, probe: probe)
        }
    }

    // Row 12: end-of-file in the middle of a message ends the call, with what had arrived.
    func test2_receiveExactlyStopsWhenThePeerCloses() throws {
        try grade {
            let probe = Probe("receiveExactly(_:count: 8) throws ConnectionClosed when the peer closes after 3 bytes")
            let connection = try LearnerConnection.fromClient(probe, script: [.send(Array("abc".utf8)), .close])
            defer { connection.finish() }
            let outcome = try probe.attempt("receiveExactly(_:count:)", unblock: connection.unblock, blockedHint: .recvZero) {
                try receiveExactly(connection.fd, count: 8)
            }
            switch outcome {
            case .failure(let closed as ConnectionClosed) where closed.received == Array("abc".utf8):
                return
            case .failure(let error):
                throw probe.fail(expected: "ConnectionClosed with the 3 bytes \"abc\"", actual: "it threw \(error)", hint: .recvZero)
            case .success(let bytes):
                throw probe.fail(expected: "ConnectionClosed with the 3 bytes \"abc\"", actual: "it returned \(bytes.count) bytes \(escaped(bytes))", hint: .recvZero)
            }
        }
    }

    // Row 11: a length prefix split across writes, and two messages in one write.
    func test3_receiveMessageHandlesSplitAndCoalescedMessages() throws {
        try grade {
            let probe = Probe("receiveMessage(_:) reads a length prefix that arrives in two pieces, then two messages sent in one write")
            let first = Array("hello".utf8), second = Array("world, again".utf8)
            let connection = try LearnerConnection.fromClient(probe, script: [
                .send([0, 0]), .pause(0.05), .send([0, UInt8(first.count)] + first),
                .pause(0.05), .send(framed(second) + framed(first)),
                .receiveUntilClosed(seconds: 5),
            ])
            defer { connection.finish() }
            for (number, expected) in [first, second, first].enumerated() {
                let got = try probe.call(
                    "receiveMessage(_:) (message \(number + 1) of 3)", unblock: connection.unblock,
                    blockedHint: number == 0 ? .lengthPrefix : .keepLeftovers
                ) {
                    try receiveMessage(connection.fd)
                }
                try expectBytes(expected, got, probe: probe, wrongHint: number == 0 ? .lengthPrefix : .keepLeftovers)
            }
        }
    }

    // Row 11: lines that share a read, and a line split across reads.
    func test4_lineReaderKeepsWhatFollowsTheLine() throws {
        try grade {
            let probe = Probe("LineReader.readLine() returns \"one\", \"two\", \"three\" (sent as \"one\\ntwo\\nthr\" and \"ee\\n\"), then nil")
            let connection = try LearnerConnection.fromClient(probe, script: [
                .send(Array("one\ntwo\nthr".utf8)), .pause(0.05), .send(Array("ee\n".utf8)), .close,
            ])
            defer { connection.finish() }
            let reader = Box(LineReader(connection.fd))
            for expected in ["one", "two", "three"] {
                let line = try probe.call("readLine() (expecting \"\(expected)\")", unblock: connection.unblock, blockedHint: .keepLeftovers) {
                    try reader.withValue { try $0.readLine() }
                }
                guard let line else {
                    throw probe.fail(expected: "the line \"\(expected)\"", actual: "nil (end of input)", hint: .keepLeftovers)
                }
                try expectBytes(Array(expected.utf8), line, probe: probe, wrongHint: line.last == UInt8(ascii: "\n") ? .stripNewline : .keepLeftovers)
            }
            let end = try probe.call("readLine() after the last line", unblock: connection.unblock, blockedHint: .recvZero) {
                try reader.withValue { try $0.readLine() }
            }
            guard end == nil else {
                throw probe.fail(expected: "nil: the peer closed and nothing is left", actual: "the line \(escaped(end!))", hint: .recvZero)
            }
        }
    }

    // Row 14: a peer that answers only after end-of-input needs a half-close.
    func test5_requestReplyHalfClosesThenReadsToTheEnd() throws {
        try grade {
            let probe = Probe("requestReply(_:request:) sends, shuts down its sending side, and reads the whole reply until end-of-file")
            let request = Array("count these bytes please".utf8)
            let replyParts = [Array("part one, ".utf8), Array("part two".utf8)]
            let connection = try LearnerConnection.toServer(probe, script: [
                .receiveUntilClosed(seconds: 5),  // this peer answers only after end-of-input
                .send(replyParts[0]), .pause(0.1), .send(replyParts[1]), .close,
            ])
            defer { connection.finish() }
            let reply = try probe.call("requestReply(_:request:)", unblock: connection.unblock, blockedHint: .halfClose) {
                try requestReply(connection.fd, request: request)
            }
            connection.peer.wait()
            guard connection.peer.received == request else {
                throw probe.fail(expected: "the server to receive the request", actual: difference(expected: request, actual: connection.peer.received) ?? "", hint: nil)
            }
            try expectBytes(replyParts[0] + replyParts[1], reply, probe: probe, wrongHint: .readToTheEnd)
        }
    }

    // Rows 12, 13 and 15: echo until the client is done, then close so the client sees it.
    func test6_serveEchoEchoesThenCloses() throws {
        try grade {
            let probe = Probe("serveEcho(_:idleTimeout:) echoes every byte, returns when the client shuts down its side, and closes the connection")
            let sent = Array("hello".utf8) + Array(" world\n".utf8)
            let connection = try LearnerConnection.fromClient(probe, script: [
                .send(Array("hello".utf8)), .pause(0.05), .send(Array(" world\n".utf8)),
                .receive(count: sent.count, seconds: 3), .halfClose, .receiveUntilClosed(seconds: 5),
            ])
            defer { connection.finish() }
            try probe.call("serveEcho(_:idleTimeout: 10)", seconds: 4, unblock: connection.unblock, blockedHint: .recvZero) {
                try serveEcho(connection.fd, idleTimeout: 10)
            }
            // Within half a second of returning, the client must see end-of-file.
            guard connection.peer.wait(seconds: 0.5), connection.peer.sawClose else {
                throw probe.fail(
                    expected: "the client to read end-of-file within 0.5 s of serveEcho returning",
                    actual: connection.isStillOpen ? "the connection is still open (on the server: CLOSE_WAIT)" : "no end-of-file reached the client",
                    hint: .closeConnection)
            }
            try expectBytes(sent, connection.peer.received, probe: probe, wrongHint: .countReturned)
        }
    }

    // Row 16: a client that says nothing must not hold the server forever.
    func test7_serveEchoGivesUpOnASilentClient() throws {
        try grade {
            let probe = Probe("serveEcho(_:idleTimeout: 0.5) returns and closes within about 0.5 s when the client says nothing")
            let connection = try LearnerConnection.fromClient(probe, script: [.receiveUntilClosed(seconds: 5)])
            defer { connection.finish() }
            let started = Clock.now
            try probe.call("serveEcho(_:idleTimeout: 0.5)", seconds: 1.5, unblock: connection.unblock, blockedHint: .idleTimeout) {
                try serveEcho(connection.fd, idleTimeout: 0.5)
            }
            let took = Clock.now - started
            guard took >= 0.4 else {
                throw probe.fail(expected: "serveEcho to wait about 0.5 s for the silent client", actual: "it returned after \(Int(took * 1000)) ms", hint: .idleTimeout)
            }
            guard connection.peer.wait(seconds: 0.5), connection.peer.sawClose else {
                throw probe.fail(expected: "the client to read end-of-file when serveEcho gives up", actual: "no end-of-file within 0.5 s", hint: .closeConnection)
            }
        }
    }
}

extension Lesson04ReceiveGrader {
    // Row 3: the connection is closed on the error path too.
    func test8_serveEchoClosesAfterAReset() throws {
        try grade {
            let probe = Probe("serveEcho(_:idleTimeout:) closes the connection even when the client resets it")
            let connection = try LearnerConnection.fromClient(probe, script: [.send(Array("x".utf8)), .pause(0.05), .reset])
            defer { connection.finish() }
            _ = try probe.attempt("serveEcho(_:idleTimeout: 10)", seconds: 3, unblock: connection.unblock, blockedHint: .recvZero) {
                try serveEcho(connection.fd, idleTimeout: 10)
            }
            guard !connection.isStillOpen else {
                throw probe.fail(
                    expected: "serveEcho to close the connection (it may throw ECONNRESET, or return)",
                    actual: "fd \(connection.fd) is still open after serveEcho ended", hint: .leak)
            }
        }
    }
}

/// A 4-byte big-endian length, then the bytes.
private func framed(_ bytes: [UInt8]) -> [UInt8] {
    let length = UInt32(bytes.count)
    return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + bytes
}

/// Compares what the learner's code produced with what was sent, naming the likely mistake.
private func expectBytes(_ expected: [UInt8], _ actual: [UInt8], probe: Probe, wrongHint: Hint? = nil) throws {
    guard let difference = difference(expected: expected, actual: actual) else { return }
    let hint: Hint
    if !expected.contains(0) && actual.contains(0) && actual.first == expected.first {
        hint = .countReturned  // a right start, then zeros that never crossed the wire: unused buffer
    } else if actual.count < expected.count && Array(expected.prefix(actual.count)) == actual {
        hint = wrongHint ?? .recvOnce  // stopped early: took one recv for the whole
    } else {
        hint = wrongHint ?? .recvOffset
    }
    throw probe.fail(expected: "\(expected.count) bytes \(escaped(expected))", actual: "\(actual.count) bytes \(escaped(actual)): \(difference)", hint: hint)
}

/// A value the learner's code mutates from the grader's worker thread.
private final class Box<Value>: @unchecked Sendable {
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withValue<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result { try body(&value) }
}

extension Hint {
    static let recvOnce = Hint("recv-once", "recv returns whatever has arrived so far, which can be a single byte. Loop, asking for what is still missing, until you have the whole message.")
    static let recvOffset = Hint("recv-offset", "Write each piece after the bytes you already have (pointer + filled), and ask for count - filled: otherwise later pieces overwrite earlier ones.")
    static let countReturned = Hint("count-returned", "Use the count recv returned, not the size of your buffer: the rest of the buffer holds zeros (or old bytes) that never came over the wire.")
    static let recvZero = Hint("recv-zero", "recv returning 0 means the peer closed its side: nothing more will ever come. Stop there (throw ConnectionClosed when a message is incomplete) instead of calling recv again, which would return 0 forever, or blocking.")
    static let lengthPrefix = Hint("length-prefix", "Read the 4-byte length with receiveExactly(fd, count: 4): it can arrive in pieces. It is big-endian: the first byte is the most significant (length = b0 << 24 | b1 << 16 | b2 << 8 | b3).")
    static let keepLeftovers = Hint("keep-leftovers", "One recv may bring the end of this message and the start of the next. Keep the extra bytes for the next call (in LineReader's pending), and never ask recv for more than the message still needs.")
    static let stripNewline = Hint("strip-newline", "Return the line without its \"\\n\": cut before the newline, and remove the newline from pending too.")
    static let halfClose = Hint("half-close", "This peer answers only when it reads end-of-file. After sending the request, call shutdown(fd, ShutdownHow.write): the peer's recv returns 0, and you can still read its reply.")
    static let readToTheEnd = Hint("read-to-the-end", "The reply can come in several pieces: keep calling recv and appending until it returns 0 (end-of-file).")
    static let closeConnection = Hint("close-connection", "Close the connection when you are done with it, on every path (defer { close(connection) }). Until you do, the client never reads end-of-file and waits, while your side sits in CLOSE_WAIT.")
    static let idleTimeout = Hint("idle-timeout", "A silent client would keep recv blocked forever. Set SO_RCVTIMEO to the idle timeout before the loop: recv then returns -1 with EAGAIN when nothing came in time, and you can stop.")
}
