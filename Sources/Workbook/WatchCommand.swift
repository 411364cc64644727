import Foundation
import GradingHarness

/// `workbook watch [N]`: checks again whenever an exercise file is saved.
enum WatchCommand {
    static let help = """
        usage: swift run workbook watch [N] [--checks K] [--seed S]

        Watches your exercise files and, each time you save one, checks that lesson again and
        shows the verdict (clearing the screen first when the output is a terminal). With N,
        it watches lesson N only, and checks it once at the start. Polls twice a second and
        waits for saves to settle, so an editor writing a file in several steps gives one check.

        Stop it with Ctrl-C: a check in progress is stopped with it, and its temporary files are
        removed (exit status 130; 143 after SIGTERM). --checks K stops by itself after K checks
        (for scripts).
        --seed S gives the checks the inputs of seed S (see: workbook check --help).
        """

    static func run(_ words: [String]) throws -> Int32 {
        let arguments = try Arguments(words, flags: ["checks", "seed"], command: "watch")
        let only = try arguments.lesson(command: "watch")
        var remaining = Int.max
        if let text = arguments.values["checks"] {
            guard let count = Int(text), count > 0 else { throw WorkbookError.usage("--checks must be a whole number above 0, not \"\(text)\"") }
            remaining = count
        }
        let workspace = try Workspace.find()
        let lessons = only.map { [$0] } ?? Curriculum.lessons
        var grader = Grader(workspace: workspace)
        grader.seed = try arguments.seed()

        func check(_ lesson: LessonInfo, because reason: String) throws {
            if Style.enabled { print("\u{1B}[2J\u{1B}[H", terminator: "") }
            let time = DateFormatter.localizedString(from: Date(), dateStyle: .none, timeStyle: .medium)
            print(Style.dim("\(time): \(reason)"))
            fflush(nil)  // seen before the check starts, even if it is interrupted
            if let results = try CheckCommand.gradeOrExplain([lesson], grader: grader) {
                results.forEach { print(CheckCommand.describe($0, workspace: workspace)) }
            }
            print(Style.dim("\nwatching \(only.map { $0.exercise } ?? "Exercises/") for saves; Ctrl-C stops"))
            fflush(nil)
            remaining -= 1
        }

        var seen = stamps(lessons, workspace)
        if let only {
            try check(only, because: "checking lesson \(only.number)")
        } else {
            print("Watching Exercises/ for saves; Ctrl-C stops.")
            fflush(nil)
        }
        while remaining > 0 {
            Thread.sleep(forTimeInterval: 0.5)
            guard stamps(lessons, workspace) != seen else { continue }
            // Debounce: wait until the files stop changing for a moment.
            var settled = stamps(lessons, workspace)
            while true {
                Thread.sleep(forTimeInterval: 0.4)
                let again = stamps(lessons, workspace)
                if again == settled { break }
                settled = again
            }
            let changed = lessons.filter { settled[$0.number] != seen[$0.number] }
            seen = settled
            for lesson in changed where remaining > 0 {
                try check(lesson, because: "\(lesson.exercise) was saved")
            }
        }
        return 0
    }

    /// Each watched exercise's modification time and size.
    private static func stamps(_ lessons: [LessonInfo], _ workspace: Workspace) -> [Int: String] {
        var result: [Int: String] = [:]
        for lesson in lessons {
            let attributes = try? FileManager.default.attributesOfItem(atPath: workspace.file(lesson.exercise).path)
            let date = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            let size = (attributes?[.size] as? NSNumber)?.intValue ?? -1
            result[lesson.number] = "\(date)/\(size)"
        }
        return result
    }
}
