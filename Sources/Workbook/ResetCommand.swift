import Foundation
import GradingHarness

/// `workbook reset N`: the lesson's exercise back to its original stub, after a
/// confirmation; the learner's version is kept in .workbook/backups/.
enum ResetCommand {
    static let help = """
        usage: swift run workbook reset N [--yes]

        Replaces lesson N's exercise file with its original stub (kept in Exercises/.pristine/,
        so this works without git). Your version is saved first in .workbook/backups/.
        Asks before it does anything; --yes skips the question (needed when not at a terminal).
        It writes only inside the workbook: if the exercise file, .workbook or its backups folder
        is a link that leads outside, it refuses and changes nothing.
        """

    static func run(_ words: [String]) throws -> Int32 {
        let arguments = try Arguments(words, switches: ["yes"], command: "reset")
        guard let lesson = try arguments.lesson(command: "reset") else { throw WorkbookError.usage("which lesson? workbook reset N (see: workbook reset --help)") }
        let workspace = try Workspace.find()
        // Everything reset writes, checked before it reads or asks anything: a link that leads
        // outside the workbook would make it write there.
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "-")
        let exercise: URL, backup: URL
        let backupName = ".workbook/backups/\(lesson.tag)-\(stamp)-\(URL(fileURLWithPath: lesson.exercise).lastPathComponent)"
        do {
            exercise = try workspace.writable(lesson.exercise)
            backup = try workspace.writable(backupName)
        } catch let error as WorkbookError {
            throw WorkbookError("\(error); nothing was changed")
        }
        let pristine = workspace.pristine(lesson)
        guard let stub = FileManager.default.contents(atPath: pristine.path) else {
            throw WorkbookError("the original stub is missing (\(workspace.shown(pristine))); nothing was changed")
        }
        let current = FileManager.default.contents(atPath: exercise.path)
        if current == stub {
            print("\(lesson.exercise) is already the original stub; nothing to do.")
            return 0
        }
        if !arguments.switches.contains("yes") {
            guard isatty(STDIN_FILENO) == 1 else {
                throw WorkbookError.usage("reset replaces your code, so it asks first; not at a terminal, add --yes to confirm")
            }
            print("This replaces \(lesson.exercise) with its original stub (your version is saved in .workbook/backups/). Go ahead? [y/N] ", terminator: "")
            fflush(nil)
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                print("Nothing changed.")
                return 1
            }
        }
        var saved: String?
        if let current {
            try FileProblem.attempt("create", ".workbook/backups/") {
                try FileManager.default.createDirectory(at: backup.deletingLastPathComponent(), withIntermediateDirectories: true)
            }
            try FileProblem.attempt("write", backupName) { try current.write(to: backup) }
            saved = backupName
        }
        try FileProblem.attempt("write", lesson.exercise) { try stub.write(to: exercise) }
        print("Lesson \(lesson.number) reset: \(lesson.exercise) is the original stub again." + (saved.map { " Your version is in \($0)." } ?? ""))
        return 0
    }
}
