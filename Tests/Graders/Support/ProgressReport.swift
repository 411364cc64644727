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
    private var outcomes: [String: Outcome] = [:]  // test name -> outcome
    private var notStarted: Set<String> = []

    enum Outcome { case passed, failed, skipped }

    static func install() {
        installed.withLock {
            guard !isInstalled else { return }
            isInstalled = true
            XCTestObservationCenter.shared.addTestObserver(shared)
        }
    }

    static func noteNotStarted(test: String) {
        shared.lock.withLock { _ = shared.notStarted.insert(test) }
    }

    func testCaseDidFinish(_ testCase: XCTestCase) {
        guard let run = testCase.testRun else { return }
        let outcome: Outcome = run.hasBeenSkipped ? .skipped : run.hasSucceeded ? .passed : .failed
        lock.withLock { outcomes[testCase.name] = outcome }
    }

    func testBundleDidFinish(_ testBundle: Bundle) {
        print(lock.withLock { table() })
    }

    private func table() -> String {
        var lines = ["", "Socket Workbook progress" + (GraderCase.isStrict ? " (strict: not started counts as failing)" : "")]
        var next: String?
        for lesson in Curriculum.lessons {
            let mine = outcomes.filter { Curriculum.lesson(forTestNamed: $0.key)?.number == lesson.number }
            let passed = mine.values.filter { $0 == .passed }.count
            let failed = mine.values.filter { $0 == .failed }.count
            let unstarted = mine.keys.filter { notStarted.contains($0) }.count
            let skipped = mine.values.filter { $0 == .skipped }.count
            let state: String
            let detail: String
            if mine.isEmpty {
                state = "not run"
                detail = "swift test --filter \(lesson.tag)"
            } else if failed > 0 && failed == unstarted && passed == 0 {
                state = "not started"  // strict mode: the stubs failed
                detail = "open \(lesson.exercise)"
            } else if failed > 0 {
                state = "failing"
                detail = "\(failed) of \(mine.count) checks fail: swift test --filter \(lesson.tag)"
            } else if passed == mine.count {
                state = "done"
                detail = "\(passed) of \(mine.count) checks pass"
            } else if passed == 0 {
                state = "not started"
                detail = "open \(lesson.exercise)"
            } else {
                state = "in progress"
                detail = "\(passed) of \(mine.count) checks pass, \(skipped) not started"
            }
            if next == nil && state != "done" && state != "not run" {
                next = "Next: \(state == "failing" ? "fix" : "open") \(lesson.exercise), then run: swift test --filter \(lesson.tag)"
            }
            let title = lesson.title.padding(toLength: 16, withPad: " ", startingAt: 0)
            lines.append("  \(lesson.number)  \(title)\(state.padding(toLength: 13, withPad: " ", startingAt: 0))\(detail)")
        }
        lines.append(next ?? "Every lesson that ran is done.")
        return lines.joined(separator: "\n")
    }
}
