import GradingHarness
import SocketKit
import XCTest

final class HarnessTests: XCTestCase {
    func testDifferenceGivesLengthsAndTheFirstDifferingOffset() {
        XCTAssertNil(difference(expected: [1, 2], actual: [1, 2]))
        XCTAssertEqual(
            difference(expected: Array("hello".utf8), actual: Array("help!".utf8)),
            "expected 5 bytes, got 5 bytes; they differ from offset 3: expected 0x6c 'l', got 0x70 'p'")
        XCTAssertTrue(difference(expected: [1, 2, 3], actual: [1])!.contains("first 1 bytes of what was expected"))
        XCTAssertTrue(difference(expected: [1], actual: [1, 0, 0])!.contains("2 extra bytes"))
    }

    func testFailureMessageIsInTheChecklistOrder() {
        let transcript = Transcript()
        transcript.record(transcript.open("client"), .bytes(from: .harness, Array("hi\n".utf8)))
        let text = CheckFailure(check: "C", expected: "E", actual: "A", transcript: transcript, hint: Hint("h", "do this")).description
        XCTAssertEqual(text, """
            check:    C
            expected: E
            actual:   A
            wire:
              connection 1: client
                harness -> your code: 3 bytes "hi\\n"
            hint [h]: do this
            """)
    }

    func testDeadlineReturnsWhatTheCallReturns() throws {
        XCTAssertEqual(try Deadline.run("quick") { 42 }, 42)
        XCTAssertThrowsError(try Deadline.run("throws") { throw SocketError(call: "x", code: EIO) }) {
            XCTAssertEqual(($0 as? SocketError)?.code, EIO)
        }
    }

    func testDeadlineUnblocksABlockedCallAndSaysWhich() throws {
        let listener = try HarnessSocket.listener()
        let started = Clock.now
        XCTAssertThrowsError(try Deadline.run("accept", seconds: 0.3, unblock: { try? listener.shutdown(ShutdownHow.both) }) {
            accept(listener.fd, nil, nil)  // nobody connects
        }) { error in
            XCTAssertEqual((error as? CallBlocked)?.call, "accept")
        }
        XCTAssertLessThan(Clock.now - started, 1.5)
    }

    func testCensusCountsTheLearnersSocketsNotTheHarnesses() throws {
        let before = DescriptorCensus.take()
        let harness = try HarnessSocket.make()
        let learners = socket(AF_INET, SocketType.stream.rawValue, 0)
        defer { _ = close(learners) }
        XCTAssertEqual(DescriptorCensus.take().added(since: before), [learners])
        harness.close()
    }

    func testCensusIgnoresConnectionsTheHarnessAccepted() throws {
        let listener = try HarnessSocket.listener()
        let before = DescriptorCensus.take()
        let client = try HarnessSocket.connect(to: listener.localAddress)
        let accepted = try XCTUnwrap(try listener.accept(seconds: 1))
        XCTAssertEqual(DescriptorCensus.take().added(since: before), [])
        client.close()
        accepted.close()
    }

    func testProbeReportsALeakWithTheLeakHint() throws {
        let leaked = LeakedSocket()
        defer { leaked.close() }
        XCTAssertThrowsError(try Probe("p").call("leaky()") { leaked.open() }) { error in
            let failure = error as? CheckFailure
            XCTAssertEqual(failure?.hint?.id, "descriptor-leak")
            XCTAssertTrue(failure?.actual.contains("left 1 socket(s) open") ?? false, "\(error)")
        }
    }

    func testProbeLetsNotStartedThrough() {
        XCTAssertThrowsError(try Probe("p").call("stub()") { () throws -> Int in throw NotStarted(fileID: "Lesson01/F.swift") }) {
            XCTAssertTrue($0 is NotStarted)
        }
    }

    func testProbeFailsABlockedCallWithItsHint() {
        XCTAssertThrowsError(try Probe("p").call("sleepy()", seconds: 0.2, blockedHint: Hint("slow", "x")) { usleep(600_000) }) {
            XCTAssertEqual(($0 as? CheckFailure)?.hint?.id, "slow")
        }
    }

    func testClientPeerRunsItsScriptAndRecordsBothDirections() throws {
        let listener = try HarnessSocket.listener(ownsAccepted: false)
        let transcript = Transcript()
        let peer = try Peer.client("client", connectingTo: listener.localAddress, transcript: transcript, script: [
            .send(Array("ab".utf8)), .drip(Array("cd".utf8), gap: 0.01), .halfClose, .receiveUntilClosed(seconds: 2),
        ])
        let server = try XCTUnwrap(try listener.accept(seconds: 1))
        let (bytes, closed) = try server.receiveUntilClosed(seconds: 2)
        XCTAssertEqual(bytes, Array("abcd".utf8))
        XCTAssertTrue(closed, "halfClose must reach the server as end-of-file")
        try server.sendAll(Array("ok".utf8))
        server.close()
        XCTAssertTrue(peer.wait())
        XCTAssertEqual(peer.received, Array("ok".utf8))
        XCTAssertTrue(peer.sawClose)
        let wire = transcript.rendered()
        XCTAssertTrue(wire.contains("harness -> your code: 1 bytes \"c\""), wire)
        XCTAssertTrue(wire.contains("shut down its sending side"), wire)
        XCTAssertTrue(wire.contains("your code -> harness: 2 bytes \"ok\""), wire)
    }

    func testServerPeerAnswersAClient() throws {
        let transcript = Transcript()
        let (peer, address) = try Peer.server("server", transcript: transcript, script: [
            .receive(count: 5, seconds: 2), .send(Array("world".utf8)), .close,
        ])
        let client = try HarnessSocket.connect(to: address)
        try client.sendAll(Array("hello".utf8))
        let (reply, closed) = try client.receiveUntilClosed(seconds: 2)
        XCTAssertEqual(reply, Array("world".utf8))
        XCTAssertTrue(closed)
        XCTAssertTrue(peer.wait())
        XCTAssertEqual(peer.received, Array("hello".utf8))
    }

    func testResetPeerGivesConnectionReset() throws {
        let listener = try HarnessSocket.listener(ownsAccepted: false)
        let peer = try Peer.client("client", connectingTo: listener.localAddress, transcript: Transcript(), script: [.reset])
        let server = try XCTUnwrap(try listener.accept(seconds: 1))
        XCTAssertTrue(peer.wait())
        XCTAssertThrowsError(try server.receive(seconds: 1)) {
            XCTAssertEqual(($0 as? SocketError)?.code, ECONNRESET)
        }
    }

    func testFreePortHasAFreeDistinctByteSwap() throws {
        let port = try FreePort.withFreeByteSwap()
        XCTAssertNotEqual(port, port.byteSwapped)
        XCTAssertGreaterThanOrEqual(port.byteSwapped, 1024)
        XCTAssertNoThrow(try HarnessSocket.listener(port: port).close())
    }
}

/// A socket opened the way a learner would, to be leaked on purpose and cleaned up after.
private final class LeakedSocket: @unchecked Sendable {
    private var fd: Int32 = -1
    func open() { fd = socket(AF_INET, SocketType.stream.rawValue, 0) }
    func close() { if fd >= 0 { _ = LibC.close(fd) } }
}
