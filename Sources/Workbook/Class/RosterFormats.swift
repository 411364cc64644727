import Foundation

/// The forms a class roster is written in: JSON to merge shards and keep, CSV for a
/// spreadsheet, Markdown for a repository or an LMS, HTML to read and print.
enum RosterFormat: String, CaseIterable {
    case csv, json, markdown, html

    /// From a file name's extension: .csv .json .md/.markdown .html/.htm; nil otherwise.
    static func inferred(from path: String) -> RosterFormat? {
        let name = path.split(separator: "/").last ?? ""
        // A name that only starts with a dot (".md") is a hidden file, not an extension.
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        switch name[name.index(after: dot)...].lowercased() {
        case "csv": return .csv
        case "json": return .json
        case "md", "markdown": return .markdown
        case "html", "htm": return .html
        default: return nil
        }
    }
}

extension ClassRoster {
    /// The roster in `format`. `reference` maps a lesson's number to the normalized hash of
    /// its reference answer, so that learners who handed that in are told apart from
    /// learners who share an answer of their own.
    func rendered(_ format: RosterFormat, reference: [Int: String] = [:]) throws -> String {
        let view = RosterView(self, groups: duplicates(reference: reference))
        switch format {
        case .json: return try jsonText()
        case .csv: return view.csv()
        case .markdown: return view.markdown()
        case .html: return view.html()
        }
    }

    /// The roster itself, nothing derived: what `class merge` reads back.
    private func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// What the CSV, Markdown and HTML forms all show, worked out from the roster once.
private struct RosterView {
    typealias Learner = ClassRoster.Learner
    typealias Lesson = ClassRoster.Lesson

    let roster: ClassRoster
    let groups: [ClassRoster.DuplicateGroup]
    private let names: [String: String]

    init(_ roster: ClassRoster, groups: [ClassRoster.DuplicateGroup]) {
        self.roster = roster
        self.groups = groups
        // Ids are unique in a class; should a hand-merged file repeat one, keep the first name
        // rather than trap.
        names = Dictionary(roster.learners.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    }

    var title: String { "Socket Workbook class roster" + (roster.shard.map { " (shard \($0))" } ?? "") }
    var fingerprint: String { String(roster.graders.prefix(12)) }

    var overview: String {
        let graded = roster.learners.filter { $0.problem == nil }
        let done = graded.filter { $0.lessonsDone == roster.lessons.count }.count
        let flagged = roster.learners.filter(isFlagged).count
        return "\(roster.learners.count) learners: \(done) with every lesson done, "
            + "\(roster.learners.count - graded.count) not graded, \(flagged) flagged."
    }

    func name(_ id: String) -> String { names[id] ?? id }

    /// The learner's result for a column; nil when it was not graded (a problem).
    func lesson(_ column: ClassRoster.Column, of learner: Learner) -> Lesson? {
        learner.lessons.first { $0.number == column.number }
    }

    /// The lessons worth reading about: every one that ran and did not pass.
    func troubled(_ learner: Learner) -> [(column: ClassRoster.Column, lesson: Lesson)] {
        roster.lessons.compactMap { column in
            guard let lesson = lesson(column, of: learner) else { return nil }
            let ran = lesson.state != .notStarted || !lesson.failures.isEmpty
            return lesson.state != .done && ran ? (column, lesson) : nil
        }
    }

    func notStarted(_ learner: Learner) -> [Int] {
        roster.lessons.filter { lesson($0, of: learner)?.state == .notStarted }.map(\.number)
    }

    func groups(of learner: Learner) -> [ClassRoster.DuplicateGroup] {
        groups.filter { $0.learners.contains(learner.id) }
    }

    /// "changed grading files: Tests/Lesson03Tests.swift differs", one a flag.
    func flagTexts(of learner: Learner) -> [String] {
        learner.flags.map { "\($0.kind.rawValue): \($0.reason)" }
    }

    /// "lesson 3 with bob, carol", one a group the learner is in.
    func sharedAnswers(of learner: Learner) -> [String] {
        groups(of: learner).map { group in
            let others = group.learners.filter { $0 != learner.id }.map(name).joined(separator: ", ")
            return "lesson \(group.lesson) with \(others)" + (group.isReferenceAnswer ? " (the reference answer)" : "")
        }
    }

    /// "same answer: L1", "reference answer: L2": the short form, for a table cell.
    func groupTags(of learner: Learner) -> [String] {
        groups(of: learner).map { ($0.isReferenceAnswer ? "reference answer: L" : "same answer: L") + String($0.lesson) }
    }

    /// "3 of 6 lessons done, 41 of 81 checks passed", or "not graded".
    func progress(of learner: Learner) -> String {
        guard learner.problem == nil else { return "not graded" }
        return "\(learner.lessonsDone) of \(roster.lessons.count) lessons done, \(learner.checksPassed) of \(learner.checksTotal) checks passed"
    }

    /// What the Integrity section says: who, and what about them.
    func integrityNotes() -> [(learners: [String], note: String)] {
        var notes: [(learners: [String], note: String)] = []
        for learner in roster.learners {
            let reasons = (learner.problem.map { ["not graded: " + $0] } ?? []) + flagTexts(of: learner)
            notes += reasons.map { ([learner.id], $0) }
        }
        for group in groups {
            let what = group.isReferenceAnswer ? "the reference answer (from Solutions/)" : "the same answer"
            notes.append((group.learners, "\(what) to lesson \(group.lesson), once comments and whitespace are taken out"))
        }
        return notes
    }

    /// Closest to done first: the order a state column sorts in.
    static let stateOrder: [ClassRoster.State] = [.done, .failing, .doesNotCompile, .crashed, .notStarted]

    /// Anything an instructor should look at besides the grades.
    func isFlagged(_ learner: Learner) -> Bool {
        learner.problem != nil || !learner.flags.isEmpty || !groups(of: learner).isEmpty
    }

    /// Whether the learner gets a section of their own in the Markdown.
    func needsSection(_ learner: Learner) -> Bool { isFlagged(learner) || !troubled(learner).isEmpty }

    /// Why each lesson is not done, in a few words: "L3: sendall-sigpipe, errno-late; L4: does
    /// not compile". A check that names no hint is named by its title.
    func details(of learner: Learner) -> String {
        troubled(learner).map { column, lesson in
            guard lesson.state == .failing else { return "L\(column.number): \(lesson.state.rawValue)" }
            var reasons: [String] = []
            for reason in lesson.failures.map({ $0.hint ?? $0.check }) where !reasons.contains(reason) { reasons.append(reason) }
            return "L\(column.number): " + (reasons.isEmpty ? "failing" : reasons.joined(separator: ", "))
        }.joined(separator: "; ")
    }

    /// One row of the per-lesson summary, as plain text.
    func summary(_ column: ClassRoster.Column) -> [String] {
        let results = roster.learners.compactMap { lesson(column, of: $0) }
        let counts = ClassRoster.State.allCases.map { state in String(results.filter { $0.state == state }.count) }
        // A hint counts once a learner, however many of their checks end with it.
        var learnersByHint: [String: Int] = [:]
        for result in results where result.state != .done {
            for hint in Set(result.failures.compactMap(\.hint)) { learnersByHint[hint, default: 0] += 1 }
        }
        // The most learners; of equals, the first in the alphabet, so the output is stable.
        let commonest = learnersByHint.max { ($0.value, $1.key) < ($1.value, $0.key) }
        return ["\(column.number): \(column.title)"] + counts + [commonest.map { "\($0.key) (\($0.value))" } ?? ""]
    }

    static let summaryHeader = ["Lesson"] + ClassRoster.State.allCases.map(\.rawValue) + ["most common failing hint (learners)"]
    /// The summary's columns that hold counts.
    static let summaryCounts = Set(1...ClassRoster.State.allCases.count)

    /// "learner-" and the id with every byte outside [A-Za-z0-9-] written as _XX (hex): an id
    /// may be any file name (spaces, Chinese, quotes), and must make one fragment, valid in a
    /// URL and an attribute as it is, that no other id makes.
    static func anchor(_ id: String) -> String {
        var anchor = "learner-"
        for byte in id.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                anchor.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                anchor += "_" + hexDigits[Int(byte >> 4)] + hexDigits[Int(byte & 0xF)]
            }
        }
        return anchor
    }

    private static let hexDigits = "0123456789ABCDEF".map(String.init)
}

// MARK: - CSV

extension RosterView {
    func csv() -> String {
        let header = ["id", "name", "student number"] + roster.lessons.map { "Lesson \($0.number): \($0.title)" }
            + ["lessons done", "checks passed", "flags", "duplicates", "problem", "details"]
        let rows = [header] + roster.learners.map(csvRow)
        // The byte-order mark is how Excel tells UTF-8 from the local code page (names in Chinese).
        return "\u{FEFF}" + rows.map { $0.map(Self.csvField).joined(separator: ",") + "\r\n" }.joined()
    }

    private func csvRow(_ learner: Learner) -> [String] {
        let graded = learner.problem == nil
        return [learner.id, learner.name, learner.studentNumber]
            + roster.lessons.map { lesson($0, of: learner)?.state.rawValue ?? "" }
            + [graded ? String(learner.lessonsDone) : "",
               graded ? "\(learner.checksPassed) of \(learner.checksTotal)" : "",
               flagTexts(of: learner).joined(separator: "; "),
               sharedAnswers(of: learner).joined(separator: "; "),
               learner.problem ?? "",
               details(of: learner)]
    }

    /// One RFC 4180 field. A spreadsheet runs a cell that starts with = + - @ as a formula, and
    /// a name comes from a learner: the apostrophe makes it text.
    static func csvField(_ text: String) -> String {
        var field = text
        if let first = field.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { field = "'" + field }
        // Scalars, not Characters: "\r\n" is one Character, equal to neither "\r" nor "\n".
        guard field.unicodeScalars.contains(where: { ",\"\r\n".unicodeScalars.contains($0) }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

// MARK: - Markdown

extension RosterView {
    func markdown() -> String {
        var lines = ["# \(Self.md(title))", "",
                     "Generated \(Self.md(roster.generated)) with graders \(Self.code(fingerprint)), seed \(roster.seed). \(overview)",
                     "", "## Lessons", ""]
        lines += markdownTable(Self.summaryHeader, roster.lessons.map { summary($0).map(Self.md) }, numeric: Self.summaryCounts)
        let lessonHeaders = roster.lessons.map { "L\($0.number)" }
        lines += ["", "## Learners", ""]
        lines += markdownTable(["Learner", "Student number"] + lessonHeaders + ["lessons done", "checks passed", "flags"],
                               roster.learners.map(markdownRow), numeric: [lessonHeaders.count + 2, lessonHeaders.count + 3])
        lines += ["", "## Integrity", ""] + markdownIntegrity()
        for learner in roster.learners where needsSection(learner) { lines += [""] + markdownSection(learner) }
        return lines.joined(separator: "\n") + "\n"
    }

    private func markdownTable(_ header: [String], _ rows: [[String]], numeric: Set<Int>) -> [String] {
        let rule = header.indices.map { numeric.contains($0) ? "--:" : "---" }
        return ([header.map(Self.md), rule] + rows).map { "| " + $0.map(Self.cell).joined(separator: " | ") + " |" }
    }

    private func markdownRow(_ learner: Learner) -> [String] {
        let states = roster.lessons.map { column -> String in
            guard let state = lesson(column, of: learner)?.state else { return "—" }
            return state == .done || state == .notStarted ? state.rawValue : "**\(state.rawValue)**"
        }
        let graded = learner.problem == nil
        var flags = learner.problem.map { ["**not graded**: " + Self.md($0)] } ?? []
        flags += learner.flags.map { Self.md($0.kind.rawValue) }
        flags += groupTags(of: learner)
        return [markdownLink(learner), Self.md(learner.studentNumber)] + states
            + [graded ? String(learner.lessonsDone) : "—", graded ? "\(learner.checksPassed) of \(learner.checksTotal)" : "—",
               flags.joined(separator: "; ")]
    }

    /// The learner's name, linked to their section when they have one.
    private func markdownLink(_ learner: Learner) -> String {
        needsSection(learner) ? markdownLink(learner.id) : Self.md(learner.name)
    }

    private func markdownLink(_ id: String) -> String { "[\(Self.md(name(id)))](#\(Self.anchor(id)))" }

    private func markdownIntegrity() -> [String] {
        let notes = integrityNotes().map { learners, note in
            "- " + learners.map(markdownLink).joined(separator: ", ") + ": " + Self.md(note)
        }
        return notes.isEmpty ? ["No flags, and no two learners handed in the same answer."] : notes
    }

    private func markdownSection(_ learner: Learner) -> [String] {
        var lines = ["## <a id=\"\(Self.anchor(learner.id))\"></a>\(Self.md(learner.name))", "",
                     "Id \(Self.code(learner.id))" + (learner.studentNumber.isEmpty ? "" : ", student number \(Self.md(learner.studentNumber))")
                        + ": \(progress(of: learner))."]
        if let problem = learner.problem { lines += ["", "**Not graded:**", ""] + Self.fenced(problem) }
        if !learner.flags.isEmpty { lines += ["", "**Flags:**", ""] + flagTexts(of: learner).map { "- " + Self.md($0) } }
        let shared = sharedAnswers(of: learner)
        if !shared.isEmpty { lines += ["", "**Same answer:** " + Self.md(shared.joined(separator: "; ")) + "."] }
        for (column, lesson) in troubled(learner) {
            lines += ["", "### Lesson \(column.number): \(Self.md(column.title)) (\(lesson.state.rawValue), \(lesson.passed) of \(lesson.total) checks passed)"]
            for failure in lesson.failures {
                lines += ["", "**\(Self.md(failure.verdict))**: \(Self.code(failure.check))", ""] + Self.fenced(failure.messages.joined(separator: "\n"))
            }
        }
        let idle = notStarted(learner)
        if !idle.isEmpty { lines += ["", "Not started: " + idle.map { "lesson \($0)" }.joined(separator: ", ") + "."] }
        return lines
    }

    /// Text that Markdown shows as it is: its punctuation is escaped, so a name cannot become
    /// a link, emphasis or raw HTML, and a line break cannot end a table row.
    static func md(_ text: String) -> String {
        var out = ""
        for character in text {
            if character.isNewline { out += " "; continue }
            if "\\`*_[]<>#~&!".contains(character) { out += "\\" }
            out.append(character)
        }
        return out
    }

    /// A table cell: GitHub splits rows at `|` even inside code spans.
    static func cell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }

    /// A code span whose backtick fence is longer than any run of backticks in `text`.
    static func code(_ text: String) -> String {
        let fence = String(repeating: "`", count: longestBacktickRun(text) + 1)
        let pad = text.hasPrefix("`") || text.hasSuffix("`") ? " " : ""
        return fence + pad + text.replacingOccurrences(of: "\n", with: " ") + pad + fence
    }

    /// A fenced code block that the text itself cannot close.
    static func fenced(_ text: String) -> [String] {
        let fence = String(repeating: "`", count: max(3, longestBacktickRun(text) + 1))
        return [fence, text, fence]
    }

    private static func longestBacktickRun(_ text: String) -> Int {
        var longest = 0, run = 0
        for character in text {
            run = character == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        return longest
    }
}

// MARK: - HTML

extension RosterView {
    func html() -> String {
        var lines = ["<!DOCTYPE html>", "<html lang=\"en\">", "<head>", "<meta charset=\"utf-8\">",
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
                     "<title>\(Self.h(title))</title>", "<style>\(Self.style)</style>", "</head>", "<body>",
                     "<h1>\(Self.h(title))</h1>",
                     "<p class=\"meta\">Generated \(Self.h(roster.generated)) with graders <code>\(Self.h(fingerprint))</code>, seed \(roster.seed). \(Self.h(overview))</p>",
                     "<h2 id=\"lessons\">Lessons</h2>"]
        let summaryRows = roster.lessons.map { column in
            "<tr>" + summary(column).enumerated().map { "<td\(Self.summaryCounts.contains($0) ? " class=\"n\"" : "")>\(Self.h($1))</td>" }.joined() + "</tr>"
        }
        lines += htmlTable(id: nil, Self.summaryHeader.map(Self.h), summaryRows)
        lines += ["<h2 id=\"roster\">Learners</h2>", Self.controls]
        let lessonHeadings = roster.lessons.map { "<abbr title=\"\(Self.h("Lesson \($0.number): \($0.title)"))\">L\($0.number)</abbr>" }
        let headings = ["Learner", "Student number"].map(Self.h) + lessonHeadings + ["Lessons done", "Checks passed", "Flags"].map(Self.h)
        lines += htmlTable(id: "learners", headings, roster.learners.map(htmlRow))
        lines += ["<h2 id=\"details\">Each learner</h2>"] + roster.learners.flatMap(htmlSection)
        lines += ["<h2 id=\"integrity\">Integrity</h2>"] + htmlIntegrity()
        // The script holds no roster data (that is all in the markup above), so nothing from a
        // learner can end it early.
        lines += ["<script>\(Self.script)</script>", "</body>", "</html>"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A table whose headings and rows are HTML already.
    private func htmlTable(id: String?, _ headings: [String], _ rows: [String]) -> [String] {
        let heads = headings.map { "<th scope=\"col\">\($0)</th>" }.joined()
        return ["<table\(id.map { " id=\"\($0)\"" } ?? "")>", "<thead><tr>\(heads)</tr></thead>", "<tbody>"] + rows + ["</tbody>", "</table>"]
    }

    private func htmlRow(_ learner: Learner) -> String {
        // What the filter box searches and the filter menu picks by.
        let search = [learner.name, learner.id, learner.studentNumber].joined(separator: " ")
        var shows = Set(roster.lessons.compactMap { lesson($0, of: learner).map { Self.token($0.state.rawValue) } })
        if isFlagged(learner) { shows.insert("flagged") }
        var cells = ["<td data-key=\"\(Self.h(learner.name))\"><a href=\"#\(Self.anchor(learner.id))\">\(Self.h(learner.name))</a>"
                        + (learner.name == learner.id ? "" : " <small>\(Self.h(learner.id))</small>") + "</td>",
                     "<td>\(Self.h(learner.studentNumber))</td>"]
        cells += roster.lessons.map { column in
            guard let state = lesson(column, of: learner)?.state else { return "<td data-key=\"9\" class=\"s-none\">—</td>" }
            let rank = Self.stateOrder.firstIndex(of: state) ?? Self.stateOrder.count
            return "<td data-key=\"\(rank)\" class=\"s-\(Self.token(state.rawValue))\">\(Self.h(state.rawValue))</td>"
        }
        let graded = learner.problem == nil
        cells.append(graded ? "<td class=\"n\">\(learner.lessonsDone)</td>" : "<td class=\"n\" data-key=\"-1\">—</td>")
        cells.append(graded ? "<td class=\"n\" data-key=\"\(learner.checksPassed)\">\(learner.checksPassed) of \(learner.checksTotal)</td>"
                            : "<td class=\"n\" data-key=\"-1\">—</td>")
        var flags = learner.problem.map { ["<strong class=\"flag\">not graded</strong>: " + Self.h($0)] } ?? []
        flags += learner.flags.map { "<span class=\"flag\">\(Self.h($0.kind.rawValue))</span>" }
        flags += groupTags(of: learner).map(Self.h)
        cells.append("<td>\(flags.joined(separator: "; "))</td>")
        return "<tr data-search=\"\(Self.h(search))\" data-show=\"\(shows.sorted().joined(separator: " "))\">" + cells.joined() + "</tr>"
    }

    private func htmlSection(_ learner: Learner) -> [String] {
        let who = learner.name == learner.id ? "" : " (\(Self.h(learner.id)))"
        let number = learner.studentNumber.isEmpty ? "" : ", student number \(Self.h(learner.studentNumber))"
        let flagged = isFlagged(learner) ? " <span class=\"flag\">flagged</span>" : ""
        var lines = ["<details class=\"learner\" id=\"\(Self.anchor(learner.id))\">",
                     "<summary><strong>\(Self.h(learner.name))</strong>\(who)\(number): \(progress(of: learner))\(flagged)</summary>"]
        if let problem = learner.problem { lines.append("<p class=\"flag\">Not graded:</p>" + Self.pre(problem)) }
        if !learner.flags.isEmpty {
            lines.append("<p class=\"flag\">Flags:</p><ul>" + flagTexts(of: learner).map { "<li>\(Self.h($0))</li>" }.joined() + "</ul>")
        }
        let shared = sharedAnswers(of: learner)
        if !shared.isEmpty { lines.append("<p><strong>Same answer:</strong> \(Self.h(shared.joined(separator: "; "))).</p>") }
        for (column, lesson) in troubled(learner) {
            let state = lesson.state.rawValue
            lines.append("<h3>Lesson \(column.number): \(Self.h(column.title)) <span class=\"s-\(Self.token(state))\">\(state)</span>, "
                         + "\(lesson.passed) of \(lesson.total) checks passed</h3>")
            lines += lesson.failures.map { failure in
                "<p><strong>\(Self.h(failure.verdict))</strong>: <code>\(Self.h(failure.check))</code></p>" + Self.pre(failure.messages.joined(separator: "\n"))
            }
        }
        let idle = notStarted(learner)
        if !idle.isEmpty { lines.append("<p>Not started: " + idle.map { "lesson \($0)" }.joined(separator: ", ") + ".</p>") }
        if learner.problem == nil, learner.flags.isEmpty, shared.isEmpty, troubled(learner).isEmpty, idle.isEmpty {
            lines.append("<p>Every lesson done; nothing to look at.</p>")
        }
        return lines + ["<p class=\"back\"><a href=\"#roster\">Back to the table</a></p>", "</details>"]
    }

    private func htmlIntegrity() -> [String] {
        let items = integrityNotes().map { learners, note in "<li>" + learners.map(htmlLink).joined(separator: ", ") + ": " + Self.h(note) + "</li>" }
        return items.isEmpty ? ["<p>No flags, and no two learners handed in the same answer.</p>"] : ["<ul>"] + items + ["</ul>"]
    }

    private func htmlLink(_ id: String) -> String { "<a href=\"#\(Self.anchor(id))\">\(Self.h(name(id)))</a>" }

    /// Text that HTML shows as it is, in an element or in a quoted attribute.
    static func h(_ text: String) -> String { Markup.escaped(text) }

    /// A <pre>: the parser drops one line break right after the tag, so one is given to drop.
    static func pre(_ text: String) -> String { "<pre>\n\(h(text))</pre>" }

    /// "does not compile" -> "does-not-compile", for a class name or a filter value.
    static func token(_ text: String) -> String { text.replacingOccurrences(of: " ", with: "-") }

    /// Hidden until the script shows them: without JavaScript they would do nothing.
    static let controls = """
        <div class="controls" id="controls" hidden>
        <label>Find <input type="search" id="find" placeholder="name, id or student number"></label>
        <label>Show <select id="show"><option value="">every learner</option><option value="failing">any lesson failing</option>\
        <option value="not-started">any lesson not started</option><option value="does-not-compile">any lesson that does not compile</option>\
        <option value="crashed">any lesson crashed</option><option value="flagged">flagged</option></select></label>
        <span id="shown" aria-live="polite"></span> <span class="hint">Click a column's title to sort by it.</span>
        </div>
        """

    static let style = """
        body { font: 15px/1.45 system-ui, sans-serif; color: #1b1b1b; margin: 1.5rem auto; max-width: 90rem; padding: 0 1rem; }
        table { border-collapse: collapse; margin: .75rem 0 1.5rem; }
        th, td { border: 1px solid #c8c8c8; padding: .2rem .5rem; text-align: left; vertical-align: top; }
        th { background: #f0f0f0; }
        .n { text-align: right; font-variant-numeric: tabular-nums; }
        #learners th { cursor: pointer; user-select: none; }
        #learners th[aria-sort=ascending]::after { content: " \\25B2"; }
        #learners th[aria-sort=descending]::after { content: " \\25BC"; }
        .s-done { background: #d8f0dc; color: #0d5a1e; }
        .s-failing { background: #f9d6d6; color: #8a1111; font-weight: 600; }
        .s-not-started, .s-none { background: #ebebeb; color: #555; }
        .s-does-not-compile, .s-crashed { background: #ffe2bf; color: #7a3b00; font-weight: 600; }
        .flag { color: #8a1111; font-weight: 600; }
        .meta, small, .hint { color: #555; }
        .controls { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: center; }
        .controls[hidden] { display: none; }
        details { border: 1px solid #c8c8c8; border-radius: 4px; margin: .4rem 0; padding: .3rem .75rem; }
        summary { cursor: pointer; }
        h3 { font-size: 1rem; margin: 1rem 0 .25rem; }
        pre { background: #f5f5f5; padding: .5rem; white-space: pre-wrap; overflow-wrap: anywhere; }
        @media print {
          .controls, .back { display: none; }
          body { font-size: 10pt; margin: 0; max-width: none; }
          td, th, .s-done, .s-failing, .s-not-started, .s-none, .s-does-not-compile, .s-crashed { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
          tr, pre { break-inside: avoid; }
          details > * { display: block; }
        }
        @media print { details::details-content { content-visibility: visible; display: block; } }
        """

    static let script = """
        "use strict";
        (() => {
          const table = document.getElementById("learners"), body = table.tBodies[0];
          const headers = Array.from(table.tHead.rows[0].cells), rows = Array.from(body.rows);
          const find = document.getElementById("find"), show = document.getElementById("show");
          const shown = document.getElementById("shown");
          document.getElementById("controls").hidden = false;
          const key = (row, column) => {
            const cell = row.cells[column];
            return cell.hasAttribute("data-key") ? cell.getAttribute("data-key") : cell.textContent.trim();
          };
          const compare = (a, b) => {
            const x = Number(a), y = Number(b);
            return a !== "" && b !== "" && !isNaN(x) && !isNaN(y) ? x - y : a.localeCompare(b);
          };
          headers.forEach((header, column) => {
            header.tabIndex = 0;
            const sort = () => {
              const ascending = header.getAttribute("aria-sort") !== "ascending";
              headers.forEach(other => other.removeAttribute("aria-sort"));
              header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
              // Sorted from roster order each time, so ties stay in roster order.
              rows.slice().sort((a, b) => (ascending ? 1 : -1) * compare(key(a, column), key(b, column)))
                .forEach(row => body.appendChild(row));
            };
            header.addEventListener("click", sort);
            header.addEventListener("keydown", event => {
              if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
            });
          });
          const filter = () => {
            const text = find.value.trim().toLowerCase(), wanted = show.value;
            let count = 0;
            rows.forEach(row => {
              const match = row.dataset.search.toLowerCase().includes(text)
                && (wanted === "" || row.dataset.show.split(" ").includes(wanted));
              row.hidden = !match;
              if (match) count += 1;
            });
            shown.textContent = count + " of " + rows.length + " shown";
          };
          find.addEventListener("input", filter);
          show.addEventListener("change", filter);
          filter();
          // A link to a learner opens their section, which is closed to keep the page short; a
          // click too, since following the same link twice changes no hash.
          const open = hash => {
            const target = hash ? document.getElementById(hash.slice(1)) : null;
            if (target && target.tagName === "DETAILS") target.open = true;
          };
          document.addEventListener("click", event => {
            const link = event.target.closest && event.target.closest("a[href^='#']");
            if (link) open(link.getAttribute("href"));
          });
          window.addEventListener("hashchange", () => open(location.hash));
          open(location.hash);
          window.addEventListener("beforeprint", () => document.querySelectorAll("details").forEach(d => { d.open = true; }));
        })();
        """
}
