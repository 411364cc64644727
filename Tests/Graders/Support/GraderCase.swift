import GradingHarness
import SocketKit
import XCTest

/// The base of every lesson's grader. Its `grade` turns what a check found into XCTest's
/// terms, the way design.md "Grading" says:
///
/// - the exercise is still a stub (`NotStarted`): a skip naming the file to open, or a
///   failure under `WORKBOOK_STRICT=1`;
/// - a check found a mistake (`CheckFailure`): a failure whose message teaches;
/// - anything else the learner's code threw where it should not: a failure saying so.
class GraderCase: XCTestCase {
    override class func setUp() {
        super.setUp()
        ProgressReport.install()
        // A learner's send to a closed connection must fail a check, not kill the whole run.
        // (The SIGPIPE check itself runs in grader-child, which restores the default.)
        signal(SIGPIPE, SIG_IGN)
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
            XCTFail("\n" + failure.description, file: file, line: line)
        } catch {
            XCTFail("unexpected error: \(error)", file: file, line: line)
        }
    }
}
