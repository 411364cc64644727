import Foundation
import GradingHarness
import XCTest

/// Prints the progress table at the end of every `swift test` run, so a skipped lesson
/// never reads as a passed one:
///
///     Socket Workbook progress
///       1  create          done           5 of 5 checks pass
///       2  bind / listen   not started    open Exercises/Lesson02/Listener.swift
///
/// (Under `swift test --parallel` each test runs in a process of its own and no table
/// can see them all; the per-test results are shown instead.)
final class ProgressReport: NSObject, XCTestObservation, @unchecked Sendable {
    private static let shared = ProgressReport()
    private static let installed = NSLock()
    nonisolated(unsafe) private static var isInstalled = false

    private let lock = NSLock()
    private var outcomes: [String: CheckStatus] = [:]  // test name -> how it ended
    private var notStarted: [String: String] = [:]  // test name -> the not-started message
    private var failures: [String: [String]] = [:]  // test name -> failure messages

    static func install() {
        installed.withLock {
            guard !isInstalled else { return }
            isInstalled = true
            XCTestObservationCenter.shared.addTestObserver(shared)
        }
    }

    static func noteNotStarted(test: String, message: String) {
        shared.lock.withLock { shared.notStarted[test] = message }
    }

    func testCaseWillStart(_ testCase: XCTestCase) {
        ResultsStream.shared.write(CheckEvent(kind: .started, test: testCase.name))
    }

    func testCase(_ testCase: XCTestCase, didFailWithDescription description: String, inFile filePath: String?, atLine lineNumber: Int) {
        // XCTest puts "failed - " in front of an XCTFail message: the message is what follows.
        var message = description
        if message.hasPrefix("failed - ") { message.removeFirst("failed - ".count) }
        let trimmed = message.trimmingCharacters(in: .whitespacesAndNewlines)
        lock.withLock { failures[testCase.name, default: []].append(trimmed) }
    }

    func testCaseDidFinish(_ testCase: XCTestCase) {
        guard let run = testCase.testRun else { return }
        let name = testCase.name
        let (status, messages) = lock.withLock { () -> (CheckStatus, [String]) in
            // Under WORKBOOK_STRICT=1 a stub fails rather than skips: it is still "not started".
            let status: CheckStatus = notStarted[name] != nil ? .notStarted : run.hasSucceeded ? .passed : .failed
            outcomes[name] = status
            return (status, status == .notStarted ? [notStarted[name]!] : failures[name] ?? [])
        }
        ResultsStream.shared.write(CheckEvent(kind: .finished, test: name, status: status, messages: messages))
    }

    func testBundleDidFinish(_ testBundle: Bundle) {
        print(lock.withLock { table() })
    }

    private func table() -> String {
        var lines = ["", "Socket Workbook progress" + (GraderCase.isStrict ? " (strict: not started counts as failing)" : "")]
        var next: String?
        for lesson in Curriculum.lessons {
            let mine = outcomes.filter { Curriculum.lesson(forTestNamed: $0.key)?.number == lesson.number }.map(\.value)
            let state = LessonState(mine)
            let passed = mine.filter { $0 == .passed }.count
            let detail: String
            switch state {
            case .notRun: detail = "swift test --filter \(lesson.tag)"
            case .notStarted: detail = "open \(lesson.exercise)"
            case .failing: detail = "\(mine.filter { $0 == .failed }.count) of \(mine.count) checks fail: swift test --filter \(lesson.tag)"
            case .done: detail = "\(passed) of \(mine.count) checks pass"
            case .inProgress: detail = "\(passed) of \(mine.count) checks pass, \(mine.count - passed) not started"
            }
            if next == nil, state != .done, state != .notRun {
                next = "Next: \(state == .failing ? "fix" : "open") \(lesson.exercise), then run: swift test --filter \(lesson.tag)"
            }
            let title = lesson.title.padding(toLength: 16, withPad: " ", startingAt: 0)
            lines.append("  \(lesson.numberColumn)\(title)\(state.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0))\(detail)")
        }
        lines.append(next ?? "Every lesson that ran is done.")
        return lines.joined(separator: "\n")
    }
}
