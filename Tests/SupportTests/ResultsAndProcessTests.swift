import Foundation
import GradingHarness
import SocketKit
import XCTest

final class ResultsAndProcessTests: XCTestCase {
    func testResultsStreamRoundTrips() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("results-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let stream = ResultsStream(path: path)
        stream.write(CheckEvent(kind: .started, test: "Lesson02ListenGrader.test1_makeListenerBindsTheAddressGiven"))
        stream.write(CheckEvent(kind: .finished, test: "Lesson02ListenGrader.test1_makeListenerBindsTheAddressGiven", status: .failed, messages: ["check: x\nhint [any-address]: y"]))
        let events = ResultsStream.read(path)
        XCTAssertEqual(events.count, 2)
        XCTAssertEqual(events.last?.status, .failed)
        XCTAssertEqual(events.last?.messages, ["check: x\nhint [any-address]: y"])
        XCTAssertEqual(events.last?.lesson?.number, 2)
        XCTAssertEqual(events.last?.checkName, "makeListenerBindsTheAddressGiven")
    }

    func testLessonStateFollowsItsChecks() {
        XCTAssertEqual(LessonState([]), .notRun)
        XCTAssertEqual(LessonState([.notStarted, .notStarted]), .notStarted)
        XCTAssertEqual(LessonState([.passed, .notStarted]), .inProgress)
        XCTAssertEqual(LessonState([.passed, .passed]), .done)
        XCTAssertEqual(LessonState([.passed, .failed, .notStarted]), .failing)
    }

    func testCurriculumNamesEachLessonsFilesAndGrader() {
        // Numbered 1, 2, 3... with no gap: the progress table and `check N` count on it.
        XCTAssertEqual(Curriculum.lessons.map(\.number), Array(1...Curriculum.lessons.count))
        XCTAssertGreaterThanOrEqual(Curriculum.lessons.count, 6)
        for lesson in Curriculum.lessons {
            XCTAssertTrue(lesson.grader.hasPrefix(lesson.tag), lesson.grader)
            XCTAssertEqual(Curriculum.lesson(forTestNamed: "\(lesson.grader).test1_x")?.number, lesson.number)
            XCTAssertTrue(lesson.exercise.hasPrefix("Exercises/\(lesson.tag)/"), lesson.exercise)
        }
    }

    func testUDPPeerDropsRepliesAndSendsFromAStranger() throws {
        let transcript = Transcript()
        let peer = try UDPPeer("server", transcript: transcript) { number, _ in
            switch number {
            case 1: return .drop
            case 2: return .reply(Array("two".utf8))
            default: return .replyFromOtherPort(Array("three".utf8))
            }
        }
        defer { peer.stop() }
        let client = try HarnessSocket.udp()
        try client.sendDatagram(Array("1".utf8), to: peer.address)
        XCTAssertNil(try client.receiveDatagram(seconds: 0.2), "the first datagram is dropped")
        try client.sendDatagram(Array("2".utf8), to: peer.address)
        let second = try XCTUnwrap(try client.receiveDatagram(seconds: 1))
        XCTAssertEqual(second.bytes, Array("two".utf8))
        XCTAssertEqual(second.sender, peer.address)
        try client.sendDatagram(Array("3".utf8), to: peer.address)
        let third = try XCTUnwrap(try client.receiveDatagram(seconds: 1))
        XCTAssertEqual(third.bytes, Array("three".utf8))
        XCTAssertNotEqual(third.sender, peer.address, "a stranger answers from another port")
        XCTAssertEqual(peer.received.count, 3)
        XCTAssertTrue(transcript.rendered().contains("dropped datagram 1"))
    }

    func testChildProcessReportsExitSignalAndTimeout() throws {
        let shell = URL(fileURLWithPath: "/bin/sh")
        let exited = try ChildProcess.run(shell, ["-c", "echo hi; exit 3"], seconds: 5)
        XCTAssertEqual(exited.ending, .exited(3))
        XCTAssertEqual(exited.output, "hi\n")
        // SIGKILL, which nothing can ignore: the graders ignore SIGPIPE in this process, and an
        // ignored signal stays ignored in a child (grader-child restores it on purpose).
        let killed = try ChildProcess.run(shell, ["-c", "kill -KILL $$"], seconds: 5)
        XCTAssertEqual(killed.ending, .killedBy(signal: SIGKILL))
        XCTAssertTrue(killed.ending.description.contains("exit status 137"), killed.ending.description)
        XCTAssertTrue(ChildProcess.Ending.killedBy(signal: SIGPIPE).description.contains("(SIGPIPE) - exit status 141"))
        // Started directly, as the workbook starts the graders. (Behind `sh -c`, Foundation's
        // termination handler was seen not to fire after the kill: the graders never use a shell.)
        let started = Clock.now
        let slow = try ChildProcess.run(URL(fileURLWithPath: "/bin/sleep"), ["30"], seconds: 0.3)
        XCTAssertEqual(slow.ending, .timedOut)
        XCTAssertLessThan(Clock.now - started, 5)
    }
}
