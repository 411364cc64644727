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
        // Numbered from 1 up, in order (a branch may add lesson 10 before lesson 9 is merged):
        // the progress table and `check N` list them in this order.
        let numbers = Curriculum.lessons.map(\.number)
        XCTAssertEqual(numbers.first, 1)
        XCTAssertEqual(numbers, numbers.sorted())
        XCTAssertEqual(Set(numbers).count, numbers.count)
        XCTAssertGreaterThanOrEqual(Curriculum.lessons.count, 6)
        for lesson in Curriculum.lessons {
            XCTAssertTrue(lesson.grader.hasPrefix(lesson.tag), lesson.grader)
            XCTAssertEqual(Curriculum.lesson(forTestNamed: "\(lesson.grader).test1_x")?.number, lesson.number)
            XCTAssertTrue(lesson.exercise.hasPrefix("Exercises/\(lesson.tag)/"), lesson.exercise)
        }
    }

    func testTwoDigitLessonsAreTheirOwn() {
        // `swift test --filter Lesson01` and `workbook check 1` must never reach lesson 10:
        // no lesson's tag is the start of another's, and a grader's name finds its own lesson.
        XCTAssertEqual(Curriculum.lesson(1)?.tag, "Lesson01")
        XCTAssertEqual(Curriculum.lesson(10)?.tag, "Lesson10")
        for lesson in Curriculum.lessons {
            for other in Curriculum.lessons where other.number != lesson.number {
                XCTAssertFalse(other.tag.hasPrefix(lesson.tag), "\(other.tag) starts with \(lesson.tag)")
                XCTAssertFalse(other.grader.hasPrefix(lesson.tag), "\(other.grader) would be graded with \(lesson.tag)")
            }
        }
        XCTAssertEqual(Curriculum.lesson(forTestNamed: "Lesson10UnixGrader")?.number, 10)
        XCTAssertEqual(Curriculum.lesson(forTestNamed: "Graders.Lesson01CreateGrader")?.number, 1)
        // The tables' first column: one- and two-digit numbers take the same width.
        XCTAssertEqual(Curriculum.lessons.map(\.numberColumn.count), Curriculum.lessons.map { _ in 3 })
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
