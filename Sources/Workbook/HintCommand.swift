import Foundation
import GradingHarness

/// `workbook hint N`: layered hints, one more each time; the reference answer, as a diff
/// against the learner's own file, only once the lesson passes.
enum HintCommand {
    static let help = """
        usage: swift run workbook hint N

        Shows the hints for lesson N given so far, plus one more each time you ask (the count is
        kept in .workbook/, which git ignores). Hints start gentle and get more specific.
        Once your lesson passes, it also shows the reference answer as a diff against your code
        (comments and blank lines left out of both, so the code differences stand out): a way
        to compare, not a way to skip the work.
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
            print(Style.green("Lesson \(lesson.number) passes.") + " Here is your code compared with the reference (- yours, + reference).")
            print("Comments and blank lines are left out of both; each @@ line says where its lines are in the files.")
            print(try codeDiff(workspace.file(lesson.exercise), workspace.solution(lesson), workspace: workspace))
        } else if shown == hints.count {
            print("That was the last hint. The reference answer is shown here once your lesson passes: swift run workbook check \(lesson.number)")
        } else {
            print(Style.dim("Ask again for the next hint: swift run workbook hint \(lesson.number)"))
        }
        return 0
    }

    /// The hints of a lesson: Lessons/Hints/NN-name.md, one "## " section per hint.
    static func loadHints(_ lesson: LessonInfo, workspace: Workspace) throws -> [String] {
        let url = workspace.hints(for: lesson)
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

    /// `diff -u` of the code of two Swift files: comments and blank lines are left out of both
    /// (a reference answer's doc comments would drown the code), and each hunk's @@ line gives
    /// where it starts in the real files.
    static func codeDiff(_ mine: URL, _ reference: URL, workspace: Workspace) throws -> String {
        let yours = try FileProblem.attempt("read", workspace.shown(mine)) { try String(contentsOf: mine, encoding: .utf8) }
        let theirs = try FileProblem.attempt("read", workspace.shown(reference)) { try String(contentsOf: reference, encoding: .utf8) }
        let (left, right) = (SwiftCode.lines(yours), SwiftCode.lines(theirs))
        let files = [Cleanup.shared.temporaryFile("workbook-hint-", ".swift"), Cleanup.shared.temporaryFile("workbook-hint-", ".swift")]
        defer { files.forEach { try? FileManager.default.removeItem(at: $0) } }
        for (file, lines) in zip(files, [left, right]) {
            let text = lines.map { $0.text + "\n" }.joined()
            try FileProblem.attempt("write", file.path) { try Data(text.utf8).write(to: file) }
        }
        let (ending, output) = try ChildProcess.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["diff", "-u", "--label", workspace.shown(mine), "--label", workspace.shown(reference), files[0].path, files[1].path],
            seconds: 10)
        switch ending {
        case .exited(0): return "(your code and the reference are the same, apart from comments and blank lines)"
        case .exited(1):
            return output.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("@@ ") ? hunkHeader(String($0), left, right) : String($0) }
                .joined(separator: "\n").trimmingCharacters(in: .newlines)
        default: throw WorkbookError("could not compare the files (is diff installed?): \(output)")
        }
    }

    /// diff's "@@ -12,7 +10,9 @@" counts the kept lines; this says where the hunk starts in
    /// the files themselves: "@@ yours: line 30 · reference: line 41 @@".
    static func hunkHeader(_ header: String, _ left: [SwiftCode.Line], _ right: [SwiftCode.Line]) -> String {
        let words = header.split(separator: " ")
        guard words.count >= 3, words[1].hasPrefix("-"), words[2].hasPrefix("+") else { return header }
        func place(_ range: Substring, _ lines: [SwiftCode.Line]) -> String {
            let numbers = range.dropFirst().split(separator: ",").compactMap { Int($0) }
            guard let start = numbers.first else { return "?" }
            let count = numbers.count > 1 ? numbers[1] : 1
            // An empty range starts after line `start` (0: before the first).
            if count == 0 { return start == 0 ? "at the start" : "after line \(lines[min(start, lines.count) - 1].number)" }
            return start >= 1 && start <= lines.count ? "line \(lines[start - 1].number)" : "?"
        }
        return "@@ yours: \(place(words[1], left)) · reference: \(place(words[2], right)) @@"
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
