// workbook: follow the Socket Workbook step by step, and run it in class.
//
//     swift run workbook                 your progress, lesson by lesson, and what to do next
//     swift run workbook check 2         grade lesson 2 (all lessons without a number)
//     swift run workbook hint 2          one more hint for lesson 2
//     swift run workbook --help          everything else
import Foundation
import GradingHarness
import Localization

/// A subcommand: its name, one line for the overview, its help, and what it does.
struct Command {
    let name: String
    let summary: String
    let help: String
    let run: ([String]) throws -> Int32
}

let commands: [Command] = [
    Command(name: "check", summary: "grade one lesson (or all), quickly, with readable failures", help: CheckCommand.help, run: CheckCommand.run),
    Command(name: "hint", summary: "one more hint for a lesson; the reference answer once you pass", help: HintCommand.help, run: HintCommand.run),
    Command(name: "watch", summary: "check again every time you save an exercise", help: WatchCommand.help, run: WatchCommand.run),
    Command(name: "reset", summary: "put a lesson's exercise back to its original stub", help: ResetCommand.help, run: ResetCommand.run),
    Command(name: "doctor", summary: "check this machine can run the workbook, and say how to fix it", help: DoctorCommand.help, run: DoctorCommand.run),
    Command(name: "report", summary: "grade every lesson for an instructor: text, JSON, JUnit or Markdown", help: ReportCommand.help, run: ReportCommand.run),
    Command(name: "class", summary: "grade a whole class with your graders: a roster, integrity flags, shards", help: ClassCommand.help, run: ClassCommand.run),
    Command(name: "verify", summary: "the workbook's self-checks (for maintainers and CI)", help: VerifyCommand.help, run: VerifyCommand.run),
]

let overview = """
    usage: swift run workbook [command] [options]

    With no command: your progress, one row per lesson, and what to do next.

    commands:
    \(commands.map { "  " + $0.name.padding(toLength: 8, withPad: " ", startingAt: 0) + $0.summary }.joined(separator: "\n"))

    Every command takes --help. WORKBOOK_SOLUTIONS=1 in front of any of them works on the
    reference answers (Solutions/) instead of yours (Exercises/).
    """

// From here on, every way out (a normal end, an error, Ctrl-C, SIGTERM) stops the grading
// processes and removes the temporary files: Shutdown.exit, Cleanup.
Shutdown.install()
let words = Array(CommandLine.arguments.dropFirst())
// An unknown WORKBOOK_LANG: said once, then English.
if let notice = Language.notice { printError("workbook: \(notice)") }
do {
    let status: Int32
    if let first = words.first, first == "--help" || first == "-h" || first == "help" {
        print(overview)
        status = 0
    } else if let first = words.first, !first.hasPrefix("-") {
        guard let command = commands.first(where: { $0.name == first }) else {
            throw WorkbookError.usage("unknown command '\(first)': the commands are \(commands.map(\.name).joined(separator: ", ")) (see: workbook --help)")
        }
        let rest = Array(words.dropFirst())
        if rest.contains("--help") || rest.contains("-h") {
            print(command.help)
            status = 0
        } else {
            try Cleanup.shared.useScratchFolder()
            status = try command.run(rest)
        }
    } else {
        try Cleanup.shared.useScratchFolder()
        status = try ProgressCommand.run(words)
    }
    Shutdown.exit(status)
} catch let error as WorkbookError {
    printError("workbook: \(error)")
    Shutdown.exit(error.status)
} catch {
    printError("workbook: \(FileProblem.oneLine(error))")
    Shutdown.exit(1)
}
