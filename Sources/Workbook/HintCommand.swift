import Foundation
import GradingHarness

/// `workbook hint N`: layered hints, one more each time; the reference answer, as a diff
/// against the learner's own file, only once the lesson passes.
enum HintCommand {
    static let help = """
        usage: swift run workbook hint N

        Shows the hints for lesson N given so far, plus one more each time you ask (the count is
        kept in .workbook/, which git ignores). Hints start gentle and get more specific.
        Once your lesson passes, it also shows the reference answer as a diff against your file:
        a way to compare, not a way to skip the work.
        """

    static func run(_ words: [String]) throws -> Int32 {
        let arguments = try Arguments(words, command: "hint")
        guard let lesson = try arguments.lesson(command: "hint") else { throw WorkbookError.usage("which lesson? workbook hint N (see: workbook hint --help)") }
        let workspace = try Workspace.find()
        let hints = try loadHints(lesson, workspace: workspace)

        var state = WorkbookState.load(workspace)
        let shown = min(hints.count, (state.hintsShown[String(lesson.number)] ?? 0) + 1)
        state.hintsShown[String(lesson.number)] = shown

        print(Style.bold("Lesson \(lesson.number) · \(lesson.title): hint \(shown) of \(hints.count)"))
        for (index, hint) in hints.prefix(shown).enumerated() {
            print("")
            let text = index == shown - 1 ? hint : Style.dim(hint)
            print("\(index + 1). \(text)")
        }
        print("")
        // The hint is shown even when the count cannot be kept; then the next one is the same.
        do {
            try state.save(workspace)
        } catch {
            fflush(nil)
            printError("workbook: warning: \(error) (the next hint will be this one again)")
        }

        // The reference answer, once the lesson passes.
        let grader = Grader(workspace: workspace)
        if try grader.build(for: [lesson]) == nil, try grader.grade(lesson, bundle: grader.testBundle).state == .done {
            guard FileManager.default.fileExists(atPath: workspace.solution(lesson).path) else {
                print(Style.green("Lesson \(lesson.number) passes.") + " (The reference answer is not in this copy of the workbook, so there is nothing to compare with.)")
                return 0
            }
            print(Style.green("Lesson \(lesson.number) passes.") + " Here is your answer compared with the reference (- yours, + reference):")
            print(try diff(workspace.file(lesson.exercise), workspace.solution(lesson), workspace: workspace))
        } else if shown == hints.count {
            print("That was the last hint. The reference answer is shown here once your lesson passes: swift run workbook check \(lesson.number)")
        } else {
            print(Style.dim("Ask again for the next hint: swift run workbook hint \(lesson.number)"))
        }
        return 0
    }

    /// The hints of a lesson: Lessons/Hints/NN-name.md, one "## " section per hint.
    static func loadHints(_ lesson: LessonInfo, workspace: Workspace) throws -> [String] {
        let url = workspace.hints(lesson)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw WorkbookError("lesson \(lesson.number) has no hints file (\(url.path))")
        }
        let sections = text.components(separatedBy: "\n## ").dropFirst()
        let hints = sections.map { section -> String in
            let lines = section.split(separator: "\n", omittingEmptySubsequences: false)
            let heading = Style.bold(String(lines.first ?? ""))
            return heading + "\n" + lines.dropFirst().joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard !hints.isEmpty else { throw WorkbookError("\(url.path) holds no \"## \" hint sections") }
        return hints
    }

    /// `diff -u` of two files, with paths relative to the package.
    static func diff(_ mine: URL, _ reference: URL, workspace: Workspace) throws -> String {
        let relative = { (url: URL) in url.path.replacingOccurrences(of: workspace.root.path + "/", with: "") }
        let (ending, output) = try ChildProcess.run(
            URL(fileURLWithPath: "/usr/bin/env"), ["diff", "-u", "--label", relative(mine), "--label", relative(reference), mine.path, reference.path],
            seconds: 10)
        switch ending {
        case .exited(0): return "(your file and the reference are the same)"
        case .exited(1): return output
        default: throw WorkbookError("could not compare the files (is diff installed?): \(output)")
        }
    }
}

/// What the workbook remembers between runs, in .workbook/state.json (ignored by git).
struct WorkbookState: Codable {
    /// Lesson number (as text) -> how many hints have been shown.
    var hintsShown: [String: Int] = [:]

    static let file = ".workbook/state.json"

    /// The saved state; a fresh one when there is none (or it cannot be read).
    static func load(_ workspace: Workspace) -> WorkbookState {
        guard let data = FileManager.default.contents(atPath: workspace.file(file).path) else { return WorkbookState() }
        return (try? JSONDecoder().decode(WorkbookState.self, from: data)) ?? WorkbookState()
    }

    /// Saves the state, never through a link that leads outside the workbook; one line when
    /// it cannot.
    func save(_ workspace: Workspace) throws {
        let url = try workspace.writable(Self.file)
        try FileProblem.attempt("create", ".workbook/") {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileProblem.attempt("write", Self.file) { try encoder.encode(self).write(to: url) }
    }
}
