import Foundation
import GradingHarness

/// `workbook check [N]`: build once, grade each lesson in its own process, print verdicts
/// and failure messages without XCTest's noise.
enum CheckCommand {
    static let help = """
        usage: swift run workbook check [N] [--seed S]

        Grades lesson N (all lessons without N) and prints each check's verdict, with the
        full failure message for the ones that fail. Each lesson runs in a process of its own
        with a time limit, so a crash or a hang in one lesson never hides another's result.

        The checks draw sizes, split points and timings from a seed, printed in every failure;
        --seed S runs them with the same inputs again (without it: the graders' fixed default).

        Ctrl-C (or SIGINT, SIGTERM, SIGHUP) stops every grading process at once and removes
        the temporary files; the exit status is then 130 (143 for SIGTERM, 129 for SIGHUP).

        Exit status: 0 when every lesson checked is done, 1 otherwise, 2 for a bad command line.
        """

    static func run(_ words: [String]) throws -> Int32 {
        let arguments = try Arguments(words, flags: ["seed"], command: "check")
        let lessons = try arguments.lesson(command: "check").map { [$0] } ?? Curriculum.lessons
        let seed = try arguments.seed()
        let workspace = try Workspace.find()
        var grader = Grader(workspace: workspace)
        grader.seed = seed
        guard let results = try gradeOrExplain(lessons, grader: grader) else { return 1 }
        for result in results { print(describe(result, workspace: workspace)) }
        return results.allSatisfy { $0.state == .done } ? 0 : 1
    }

    /// Builds and grades; when the code does not compile, prints the compiler's errors and
    /// returns nil.
    static func gradeOrExplain(_ lessons: [LessonInfo], grader: Grader) throws -> [LessonResult]? {
        if let errors = try grader.build(for: lessons) {
            print(Style.red("Your code does not compile, so nothing can be graded yet:"))
            print(errors)
            return nil
        }
        let bundle = try grader.testBundle
        return grader.grade(lessons, bundle: bundle)
    }

    /// A lesson's verdict as the learner reads it.
    static func describe(_ result: LessonResult, workspace: Workspace) -> String {
        let lesson = result.lesson
        let title = Style.bold("Lesson \(lesson.number) · \(lesson.title)")
        let state = result.state
        var lines: [String] = []
        switch state {
        case .notStarted:
            lines.append("\(title): \(Style.state("not started", state)). Read \(workspace.prose(for: lesson)), then write the functions in \(lesson.exercise).")
            return lines.joined(separator: "\n")
        case .done:
            lines.append("\(title): \(Style.state("done", state)) (\(result.passed) of \(result.checks.count) checks pass)")
        default:
            lines.append("\(title): \(Style.state(state.rawValue, state)) (\(result.passed) of \(result.checks.count) checks pass)")
        }
        if let problem = result.problem { lines += problem.split(separator: "\n").map { "  " + Style.red(String($0)) } }
        for check in result.checks {
            switch check.verdict {
            case .passed:
                lines.append("  \(Style.green("✓")) \(check.title)")
            case .notStarted:
                lines.append("  \(Style.yellow("·")) \(check.title) \(Style.dim("(not started: \(check.messages.first ?? "a stub"))"))")
            case .notRun:
                lines.append("  \(Style.dim("- \(check.title) (not run)"))")
            case .failed, .crashed, .timedOut:
                lines.append("  \(Style.red("✗")) \(check.title)" + (check.verdict == .failed ? "" : " (\(check.verdict.rawValue))"))
                for message in check.messages where !(result.problem?.contains(message) ?? false) {
                    lines.append(contentsOf: message.split(separator: "\n", omittingEmptySubsequences: false).map { "      " + $0 })
                }
            }
        }
        if state != .done {
            lines.append("  " + Style.dim("stuck? swift run workbook hint \(lesson.number)"))
        }
        return lines.joined(separator: "\n")
    }
}

/// `workbook` with no command: the progress view.
enum ProgressCommand {
    static func run(_ words: [String]) throws -> Int32 {
        if let word = words.first { throw WorkbookError.usage("unknown option \(word) (see: workbook --help)") }
        let workspace = try Workspace.find()
        let grader = Grader(workspace: workspace)
        let lessons = Curriculum.lessons
        var results: [LessonResult] = []
        var compileErrors: String?
        if !FileManager.default.fileExists(atPath: workspace.file(".build/debug/\(Grader.testProduct).xctest").path) {
            // The first build compiles the graders and the harness: say why it takes a while.
            printError("Building the lessons and their graders (the first time takes a minute or two)...")
        }
        if let errors = try grader.build(for: lessons) {
            compileErrors = errors
        } else {
            results = grader.grade(lessons, bundle: try grader.testBundle)
        }

        print(Style.bold("Socket Workbook") + Style.dim(" (grading \(workspace.answers)/)"))
        print("")
        let header = "  #  " + "lesson".padding(toLength: 16, withPad: " ", startingAt: 0)
            + "state".padding(toLength: 18, withPad: " ", startingAt: 0) + "open".padding(toLength: 40, withPad: " ", startingAt: 0) + "grade it with"
        print(Style.dim(header))
        for lesson in lessons {
            let result = results.first { $0.lesson.number == lesson.number }
            let state = result?.state
            let label: String
            switch state {
            case nil: label = "does not compile"
            case .done?, .failing?, .inProgress?: label = "\(state!.rawValue) \(result!.passed)/\(result!.checks.count)"
            case let other?: label = other.rawValue
            }
            print("  \(lesson.numberColumn)" + lesson.title.padding(toLength: 16, withPad: " ", startingAt: 0)
                + Style.state(label.padding(toLength: 18, withPad: " ", startingAt: 0), state)
                + lesson.exercise.padding(toLength: 40, withPad: " ", startingAt: 0) + "swift run workbook check \(lesson.number)")
        }
        print("")
        if let compileErrors {
            print(Style.red("Your code does not compile, so nothing can be graded yet. The compiler says:"))
            print(compileErrors)
            return 0
        }
        print(nextStep(results, workspace: workspace))
        return 0
    }

    /// What to do next: the first lesson that is not done.
    static func nextStep(_ results: [LessonResult], workspace: Workspace) -> String {
        guard let result = results.first(where: { $0.state != .done }) else {
            return Style.green("Every lesson is done.") + " Run the demos on your own code (swift run lesson04-echo --role server, ...) and compare with the reference: swift run workbook hint N."
        }
        let lesson = result.lesson
        let next = "Next: "
        switch result.state {
        case .notStarted:
            return next + "read \(workspace.prose(for: lesson)), write the functions in \(lesson.exercise), then run: swift run workbook check \(lesson.number)\n"
                + "Its demo runs on your code: swift run \(lesson.demo)" + (lesson.demo.hasSuffix("-echo") || lesson.demo.hasSuffix("-udp") ? " --role server" : "")
                + " (until you write it, it stops with \"not started\"; WORKBOOK_SOLUTIONS=1 in front of it runs the reference answer)"
        case .failing:
            let failing = result.checks.filter { $0.verdict != .passed && $0.verdict != .notStarted }.count
            return next + "lesson \(lesson.number) has \(max(failing, 1)) failing check(s): swift run workbook check \(lesson.number) shows why (and swift run workbook hint \(lesson.number) helps)."
        default:
            return next + "finish \(lesson.exercise) (\(result.passed) of \(result.checks.count) checks pass), then run: swift run workbook check \(lesson.number)"
        }
    }
}
