import GradingHarness
import SocketKit
import XCTest

/// The base of every lesson's grader. Its `grade` turns what a check found into XCTest's
/// terms, the way design.md "Grading" says:
///
/// - the exercise is still a stub (`NotStarted`): a skip naming the file to open, or a
///   failure under `WORKBOOK_STRICT=1`;
/// - a check found a mistake (`CheckFailure`): a failure whose message teaches, ending with
///   the seed its inputs came from;
/// - anything else thrown where it should not be: a failure in the same shape (check,
///   expected, actual, hint), never a bare "unexpected error".
class GraderCase: XCTestCase {
    override class func setUp() {
        super.setUp()
        ProgressReport.install()
        // A learner's send to a closed connection must fail a check, not kill the whole run.
        // (The SIGPIPE check itself runs in a child process, which restores the default: Lesson03Child.)
        signal(SIGPIPE, SIG_IGN)
        // A launcher may hand this process a blocked signal mask (a program started from a
        // Dispatch worker thread inherits that thread's mask, which blocks most signals). The
        // checks that interrupt a learner's call (EINTR) or count SIGPIPE need signals
        // delivered: unblock them all here, before any learner thread is created.
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
    }

    static let isStrict = ProcessInfo.processInfo.environment["WORKBOOK_STRICT"] == "1"

    func grade(file: StaticString = #filePath, line: UInt = #line, _ check: () throws -> Void) throws {
        do {
            try check()
        } catch let notStarted as NotStarted {
            ProgressReport.noteNotStarted(test: name, message: notStarted.description)
            if Self.isStrict {
                XCTFail("\(notStarted) [WORKBOOK_STRICT=1: not started counts as failing]", file: file, line: line)
            } else {
                throw XCTSkip(notStarted.description, file: file, line: line)
            }
        } catch let failure as CheckFailure {
            XCTFail("\n" + failure.description + "\n" + seedLine, file: file, line: line)
        } catch {
            // The harness itself met an error: usually because the learner's code closed or
            // changed a socket the harness owns. Say so in the usual shape.
            let failure = CheckFailure(
                check: name, expected: "the check to run to its end",
                actual: "the harness's own \(error) stopped it", hint: .harnessDisturbed)
            XCTFail("\n" + failure.description + "\n" + seedLine, file: file, line: line)
        }
    }

    /// The seed this run's inputs came from, and how to see the same inputs again.
    private var seedLine: String {
        let lesson = Curriculum.lesson(forTestNamed: String(describing: type(of: self)))
        return "seed:     \(GradingSeed.value) (the same inputs again: swift run workbook check \(lesson.map { "\($0.number)" } ?? "N") --seed \(GradingSeed.value))"
    }

    /// Rule 5 of "How a check earns trust": an answer may import only SocketKit and the
    /// toolchain's own modules. Every lesson's grader runs this as its first check.
    func checkImports(_ lesson: Int) throws {
        try grade {
            guard let info = Curriculum.lesson(lesson) else { return }
            let folder = AnswerImports.answersFolder(of: info)
            // An untouched stub has nothing to check yet: it is "not started" like the rest.
            let file = URL(fileURLWithPath: info.exercise).lastPathComponent
            let pristine = AnswerImports.packageRoot.appendingPathComponent("Exercises/.pristine/\(info.tag)/\(file)")
            if let stub = FileManager.default.contents(atPath: pristine.path),
               stub == FileManager.default.contents(atPath: folder.appendingPathComponent(file).path) {
                throw NotStarted(fileID: "\(info.tag)/\(file)", function: "every function")
            }
            for (file, module) in AnswerImports.disallowed(in: folder) {
                let probe = Probe("Exercise files import only SocketKit and the toolchain's modules")
                throw probe.fail(
                    expected: "imports of \(AnswerImports.allowed.sorted().joined(separator: ", ")) only",
                    actual: "\(file) imports \(module)", hint: .disallowedImport(module))
            }
        }
    }
}

extension Hint {
    static let harnessDisturbed = Hint("harness-disturbed", "Something the check needed stopped working: most often because the code under test closed, shut down or changed a socket it did not create. Close only what your function opened.")

    static func disallowedImport(_ module: String) -> Hint {
        Hint("disallowed-import", "Remove `import \(module)`. An answer may use SocketKit and the toolchain's own modules (Foundation, Dispatch, Synchronization, Glibc or Darwin): the graders' harness is not part of your answer.")
    }
}
