import Foundation
import GradingHarness

/// `workbook report`: every lesson graded in its own process, strictly, for an instructor.
enum ReportCommand {
    static let help = """
        usage: swift run workbook report [--format text|json|junit|markdown] [--output FILE]

        Grades every lesson, each in a process of its own, and reports per lesson and per check.
        Strict: a lesson counts as done only when all of its checks pass; "not started" counts
        as not done. JSON carries each check's status (passed, failed, not started, crashed,
        timed out, not run) and messages, and the fingerprints (SHA-256) of the graders,
        harness and manifest it ran with, for `workbook class verify`. JUnit XML suits CI
        dashboards; Markdown suits a pull request or an LMS. Written to --output FILE (checked
        before grading starts), or to standard output.

        Exit status: 0 when every lesson is done, 1 otherwise, 2 for a bad command line.
        """

    struct Report: Codable {
        struct Lesson: Codable {
            let number: Int
            let title: String
            let exercise: String
            let state: String
            let done: Bool
            let problem: String?
            let checks: [CheckResult]
        }
        let workbook: String
        let answers: String
        let generated: String
        let strict: Bool
        let lessonsDone: Int
        let lessons: [Lesson]
        /// Hashes of the graders, harness and manifest this report was made with, for
        /// `workbook class verify` (nil in reports from before they were added).
        let fingerprints: InstructorCopy.Fingerprints?
    }

    static func run(_ words: [String]) throws -> Int32 {
        let arguments = try Arguments(words, flags: ["format", "output"], command: "report")
        try arguments.noPositional(command: "report")
        let format = arguments.values["format"] ?? "text"
        guard ["text", "json", "junit", "markdown"].contains(format) else {
            throw WorkbookError.usage("--format must be text, json, junit or markdown, not \"\(format)\"")
        }
        if arguments.values["output"]?.isEmpty == true { throw WorkbookError.usage("--output needs a file name (see: workbook report --help)") }
        let workspace = try Workspace.find()
        // Opened before any grading: a path that cannot be written fails at once, not after
        // every lesson has been graded.
        let destination = try arguments.values["output"].map(Destination.init)
        let grader = Grader(workspace: workspace)
        let lessons = Curriculum.lessons
        let results: [LessonResult]
        if let errors = try grader.build(for: lessons) {
            results = lessons.map { LessonResult(lesson: $0, checks: [], problem: "does not compile:\n" + errors) }
        } else {
            results = grader.grade(lessons, bundle: try grader.testBundle)
        }
        let report = Report(
            workbook: "Socket Workbook", answers: workspace.answers + "/",
            generated: ISO8601DateFormatter().string(from: Date()), strict: true,
            lessonsDone: results.filter { $0.state == .done }.count,
            lessons: results.map {
                Report.Lesson(number: $0.lesson.number, title: $0.lesson.title, exercise: $0.lesson.exercise,
                              state: $0.problem?.hasPrefix("does not compile") == true ? "does not compile" : $0.state.rawValue,
                              done: $0.state == .done, problem: $0.problem, checks: $0.checks)
            },
            fingerprints: InstructorCopy(workspace).fingerprints)
        let text: String
        switch format {
        case "json": text = try json(report)
        case "junit": text = junit(report)
        case "markdown": text = markdown(report)
        default: text = plain(report)
        }
        if let destination {
            try destination.write(text + "\n")
            print("wrote \(format) report to \(destination.path): \(report.lessonsDone) of \(report.lessons.count) lessons done")
        } else {
            print(text)
        }
        return report.lessonsDone == report.lessons.count ? 0 : 1
    }

    /// The --output file, open for writing from the start. A file that was not there before
    /// is removed again if the report is never written (an error, or Ctrl-C); one that was
    /// there keeps its old contents until the new report replaces them.
    final class Destination {
        let path: String
        private let handle: FileHandle
        private let made: Bool

        init(_ path: String) throws {
            self.path = path
            var info = stat()
            made = stat(path, &info) != 0
            let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw WorkbookError("cannot write \(path): \(FileProblem.words(errno))") }
            guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
                close(fd)
                throw WorkbookError("cannot write \(path): not a regular file")
            }
            handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            if made { Cleanup.shared.removeOnExit(URL(fileURLWithPath: path)) }
        }

        func write(_ text: String) throws {
            try FileProblem.attempt("write", path) {
                try handle.truncate(atOffset: 0)
                try handle.write(contentsOf: Data(text.utf8))
                try handle.close()
            }
            if made { Cleanup.shared.keep(URL(fileURLWithPath: path)) }
        }
    }

    static func json(_ report: Report) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    static func plain(_ report: Report) -> String {
        var lines = ["Socket Workbook report (\(report.answers), \(report.generated)): \(report.lessonsDone) of \(report.lessons.count) lessons done"]
        for lesson in report.lessons {
            let passed = lesson.checks.filter { $0.verdict == .passed }.count
            lines.append("  \("\(lesson.number)".padding(toLength: 3, withPad: " ", startingAt: 0))\(lesson.title.padding(toLength: 16, withPad: " ", startingAt: 0))\(lesson.state.padding(toLength: 18, withPad: " ", startingAt: 0))\(passed) of \(lesson.checks.count) checks pass")
            for check in lesson.checks where check.verdict != .passed {
                lines.append("       \(check.verdict.rawValue): \(check.name)")
            }
        }
        return lines.joined(separator: "\n")
    }

    static func markdown(_ report: Report) -> String {
        var lines = [
            "# Socket Workbook report", "",
            "Graded `\(report.answers)` at \(report.generated): **\(report.lessonsDone) of \(report.lessons.count) lessons done** (strict: not started counts as not done).", "",
            "| # | lesson | state | checks passed |", "|---|---|---|---|",
        ]
        for lesson in report.lessons {
            let passed = lesson.checks.filter { $0.verdict == .passed }.count
            lines.append("| \(lesson.number) | \(lesson.title) | \(lesson.done ? "done" : "**\(lesson.state)**") | \(passed) / \(lesson.checks.count) |")
        }
        for lesson in report.lessons where !lesson.done {
            lines.append("")
            lines.append("## Lesson \(lesson.number): \(lesson.title) (\(lesson.state))")
            if let problem = lesson.problem { lines.append(""); lines.append("```"); lines.append(problem); lines.append("```") }
            for check in lesson.checks where check.verdict != .passed {
                lines.append("")
                lines.append("- `\(check.name)`: \(check.verdict.rawValue)")
                if check.verdict == .failed || check.verdict == .crashed, !check.messages.isEmpty {
                    lines.append(""); lines.append("  ```")
                    lines.append(contentsOf: check.messages.joined(separator: "\n").split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 })
                    lines.append("  ```")
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    static func junit(_ report: Report) -> String {
        func escape(_ text: String) -> String { Markup.escaped(text) }
        let all = report.lessons.flatMap(\.checks)
        let failures = all.filter { $0.verdict != .passed }.count
        var lines = [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<testsuites name=\"Socket Workbook\" tests=\"\(all.count)\" failures=\"\(failures)\" timestamp=\"\(report.generated)\">",
        ]
        for lesson in report.lessons {
            let lessonFailures = lesson.checks.filter { $0.verdict != .passed }.count
            lines.append("  <testsuite name=\"Lesson \(lesson.number): \(escape(lesson.title))\" tests=\"\(lesson.checks.count)\" failures=\"\(lessonFailures)\">")
            if let problem = lesson.problem, lesson.checks.isEmpty {
                lines.append("    <testcase classname=\"Lesson\(lesson.number)\" name=\"build\"><failure message=\"does not compile\">\(escape(problem))</failure></testcase>")
            }
            for check in lesson.checks {
                let open = "    <testcase classname=\"Lesson\(lesson.number)\" name=\"\(escape(check.name))\""
                if check.verdict == .passed {
                    lines.append(open + "/>")
                } else {
                    // Strict: not started is a failure too.
                    lines.append(open + "><failure message=\"\(escape(check.verdict.rawValue))\">\(escape(check.messages.joined(separator: "\n")))</failure></testcase>")
                }
            }
            lines.append("  </testsuite>")
        }
        lines.append("</testsuites>")
        return lines.joined(separator: "\n")
    }
}
