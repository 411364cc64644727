import Foundation
import GradingHarness

/// `workbook class grade | merge | verify`: a whole class, with the instructor's graders.
enum ClassCommand {
    static let help = """
        usage: swift run workbook class grade SUBMISSION... [--format F] [--output FILE]
                                          [--roster FILE] [--jobs N] [--shard I/N] [--seed S] [--no-cache]
               swift run workbook class merge ROSTER.json... [--format F] [--output FILE]
               swift run workbook class verify REPORT.json...

        grade    Grades learners' copies of the workbook with YOUR graders, harness and
                 Package.swift: only each submission's Exercises/ is used, so an edited grader
                 changes nothing (it is flagged). A submission is a folder, a git repository,
                 a .zip or a .tar.gz; one folder that holds submissions (not itself a copy)
                 stands for all of them. Writes a roster: one row a learner, one column a
                 lesson, integrity flags, every failing check's messages.
                   --format csv|json|markdown|html   (default: from --output's extension, else markdown)
                   --output FILE     where the roster goes (default: standard output)
                   --roster FILE     a CSV of folder,name,student number (a header line first):
                                     names for the rows; a folder it names that is missing gets a row
                   --jobs N          submissions graded at once (default: the number of cores)
                   --shard I/N       grade only the I-th of N equal slices (for CI runners);
                                     write --format json and join the slices with `class merge`
                   --seed S          the checks' seed (default: the graders' own)
                   --no-cache        grade every answer again (by default an answer graded
                                     before, with the same graders and seed, is not graded twice)
        merge    Joins shard rosters (JSON) into one, in any format.
        verify   Checks that learners' `workbook report --format json` files were made with
                 graders, harness and manifest identical to yours.

        Exit status: 0 when it ran (whatever the grades), 1 when something stopped it,
        2 for a bad command line. `verify`: 1 when any report does not match.
        """

    static func run(_ words: [String]) throws -> Int32 {
        guard let action = words.first else { throw WorkbookError.usage("'class' needs grade, merge or verify (see: workbook class --help)") }
        let rest = Array(words.dropFirst())
        switch action {
        case "grade": return try grade(rest)
        case "merge": return try merge(rest)
        case "verify": return try verify(rest)
        default: throw WorkbookError.usage("unknown 'class' action '\(action)': grade, merge or verify (see: workbook class --help)")
        }
    }

    // MARK: grade

    static func grade(_ words: [String]) throws -> Int32 {
        let arguments = try Arguments(words, flags: ["format", "output", "roster", "jobs", "shard", "seed"], switches: ["no-cache"], command: "class grade")
        guard !arguments.positional.isEmpty else { throw WorkbookError.usage("'class grade' needs at least one submission (see: workbook class --help)") }
        let format = try format(arguments)
        let jobs = try arguments.values["jobs"].map { text in
            guard let jobs = Int(text), (1...64).contains(jobs) else { throw WorkbookError.usage("--jobs takes a whole number from 1 to 64, not \"\(text)\"") }
            return jobs
        } ?? ProcessInfo.processInfo.activeProcessorCount
        let shard = try arguments.values["shard"].map(Shard.init)
        let seed = try arguments.seed() ?? GradingSeed.value
        let workspace = try Workspace.find()
        let destination = try arguments.values["output"].map(ReportCommand.Destination.init)
        let names = try arguments.values["roster"].map(ClassList.read) ?? [:]

        var entries = try entries(arguments.positional, names: names)
        if let shard { entries = shard.slice(entries) }
        let instructor = InstructorCopy(workspace)
        let grading = try ClassGrading(instructor: instructor, seed: seed, jobs: jobs, useCache: !arguments.switches.contains("no-cache"))
        printError("Grading \(entries.count) submission\(entries.count == 1 ? "" : "s")\(shard.map { " (shard \($0))" } ?? "") with your graders, \(jobs) at a time...")
        grading.progress = { done, total, seconds in
            let left = seconds / Double(done) * Double(total - done)
            printError("  \(done) of \(total) graded, \(Int(seconds)) s so far, about \(Int(left.rounded())) s to go")
        }
        let graded = grading.grade(entries.filter { $0.path != ClassList.missing })
        var rows = entries.filter { $0.path == ClassList.missing }.map { entry in
            ClassRoster.Learner(id: entry.id, name: entry.name, studentNumber: entry.studentNumber, source: "",
                                problem: "the roster names this folder, but no submission has that name", lessons: [], flags: [])
        }
        rows += graded
        let roster = ClassRoster(
            generated: ISO8601DateFormatter().string(from: Date()), graders: instructor.fingerprints.combined, seed: seed,
            shard: shard?.description, lessons: Curriculum.lessons.map { ClassRoster.Column(number: $0.number, title: $0.title) },
            learners: rows.sorted { $0.id < $1.id })
        try write(roster, format: format, to: destination, instructor: instructor)
        return 0
    }

    /// The submissions named on the command line, each with its roster name. One folder that
    /// is not itself a copy of the workbook stands for everything in it.
    static func entries(_ paths: [String], names: [String: ClassList.Row]) throws -> [ClassGrading.Entry] {
        var paths = paths
        if paths.count == 1, isClassFolder(paths[0]) {
            let folder = paths[0]
            paths = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
                .map { folder.hasSuffix("/") ? folder + $0 : folder + "/" + $0 }
        }
        var seen: [String: String] = [:]
        var entries: [ClassGrading.Entry] = []
        for path in paths {
            let id = Submission.id(of: path)
            if let other = seen[id] { throw WorkbookError.usage("two submissions would share the name \"\(id)\": \(other) and \(path)") }
            seen[id] = path
            let row = names[id]
            entries.append(ClassGrading.Entry(path: path, id: id, name: row?.name ?? id, studentNumber: row?.number ?? ""))
        }
        for (id, row) in names where seen[id] == nil {
            entries.append(ClassGrading.Entry(path: ClassList.missing, id: id, name: row.name, studentNumber: row.number))
        }
        return entries.sorted { $0.id < $1.id }
    }

    private static func isClassFolder(_ path: String) -> Bool {
        var isFolder: ObjCBool = false
        let files = FileManager.default
        guard files.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else { return false }
        return !files.fileExists(atPath: path + "/Exercises") && !files.fileExists(atPath: path + "/HEAD")
    }

    // MARK: merge

    static func merge(_ words: [String]) throws -> Int32 {
        let arguments = try Arguments(words, flags: ["format", "output"], command: "class merge")
        guard !arguments.positional.isEmpty else { throw WorkbookError.usage("'class merge' needs the shard rosters (JSON) to join (see: workbook class --help)") }
        let format = try format(arguments)
        let workspace = try Workspace.find()
        let destination = try arguments.values["output"].map(ReportCommand.Destination.init)
        var merged: ClassRoster?
        var seen: [String: String] = [:]
        for path in arguments.positional {
            let roster = try readRoster(path)
            for learner in roster.learners {
                if let other = seen[learner.id] { throw WorkbookError("\(path) and \(other) both hold \"\(learner.id)\": were the same submissions graded twice?") }
                seen[learner.id] = path
            }
            guard var whole = merged else { merged = roster; continue }
            guard whole.graders == roster.graders else { throw WorkbookError("\(path) was graded with other graders (fingerprint \(roster.graders.prefix(12))) than \(arguments.positional[0]) (\(whole.graders.prefix(12))): grade every shard with the same copy") }
            guard whole.seed == roster.seed, whole.lessons == roster.lessons else { throw WorkbookError("\(path) was graded with another seed or other lessons than \(arguments.positional[0])") }
            whole.learners += roster.learners
            merged = whole
        }
        guard var roster = merged else { return 1 }
        roster.learners.sort { $0.id < $1.id }
        roster.shard = nil
        try write(roster, format: format, to: destination, instructor: InstructorCopy(workspace))
        return 0
    }

    static func readRoster(_ path: String) throws -> ClassRoster {
        let data = try FileProblem.attempt("read", path) { try Data(contentsOf: URL(fileURLWithPath: path)) }
        guard let roster = try? JSONDecoder().decode(ClassRoster.self, from: data), roster.kind == ClassRoster.kindName else {
            throw WorkbookError("\(path) is not a class roster in JSON (write shards with --format json)")
        }
        return roster
    }

    // MARK: verify

    static func verify(_ words: [String]) throws -> Int32 {
        let arguments = try Arguments(words, command: "class verify")
        guard !arguments.positional.isEmpty else { throw WorkbookError.usage("'class verify' needs the learners' JSON reports (see: workbook class --help)") }
        let mine = InstructorCopy(try Workspace.find()).fingerprints
        var mismatches = 0
        for path in arguments.positional {
            let data = try FileProblem.attempt("read", path) { try Data(contentsOf: URL(fileURLWithPath: path)) }
            guard let report = try? JSONDecoder().decode(ReportCommand.Report.self, from: data) else {
                print("\(path): not a workbook report in JSON (made with `workbook report --format json`)")
                mismatches += 1
                continue
            }
            guard let theirs = report.fingerprints else {
                print("\(path): carries no fingerprints (made by an older workbook): grade the copy itself with `workbook class grade`")
                mismatches += 1
                continue
            }
            let differing = [("graders", theirs.graders, mine.graders), ("harness", theirs.harness, mine.harness), ("manifest", theirs.manifest, mine.manifest)]
                .filter { $0.1 != $0.2 }.map(\.0)
            if differing.isEmpty {
                print("\(path): ok, made with graders, harness and manifest identical to yours (\(report.lessonsDone) of \(report.lessons.count) lessons done)")
            } else {
                print("\(path): DIFFERS: its \(differing.joined(separator: ", ")) \(differing.count == 1 ? "is" : "are") not yours; do not trust its grades")
                mismatches += 1
            }
        }
        return mismatches == 0 ? 0 : 1
    }

    // MARK: Shared

    static func format(_ arguments: Arguments) throws -> RosterFormat {
        if let text = arguments.values["format"] {
            guard let format = RosterFormat(rawValue: text) else { throw WorkbookError.usage("--format must be csv, json, markdown or html, not \"\(text)\"") }
            return format
        }
        if let output = arguments.values["output"] {
            guard let format = RosterFormat.inferred(from: output) else {
                throw WorkbookError.usage("cannot tell the format from \"\(output)\": name it .csv, .json, .md or .html, or give --format")
            }
            return format
        }
        return .markdown
    }

    static func write(_ roster: ClassRoster, format: RosterFormat, to destination: ReportCommand.Destination?, instructor: InstructorCopy) throws {
        var reference: [Int: String] = [:]
        for lesson in Curriculum.lessons { reference[lesson.number] = NormalizedAnswer.hash(instructor.reference(lesson)) }
        let text = try roster.rendered(format, reference: reference)
        if let destination {
            try destination.write(text)
            let done = roster.learners.filter { $0.problem == nil && $0.lessonsDone == roster.lessons.count }.count
            printError("wrote the roster (\(format.rawValue)) to \(destination.path): \(roster.learners.count) learners, \(done) with every lesson done")
        } else {
            print(text)
        }
    }
}

/// `--shard I/N`: the I-th of N slices, 1-based, taking every N-th submission in order of
/// their ids, so that each slice gets a fair share of the class.
struct Shard: CustomStringConvertible {
    let index: Int
    let count: Int

    init(_ text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, (1...count).contains(index) else {
            throw WorkbookError.usage("--shard takes I/N with 1 <= I <= N, such as 2/3, not \"\(text)\"")
        }
        self.index = index
        self.count = count
    }

    func slice<T>(_ items: [T]) -> [T] {
        items.enumerated().filter { $0.offset % count == index - 1 }.map(\.element)
    }

    var description: String { "\(index)/\(count)" }
}

/// `--roster FILE`: folder, name, student number, one learner a line, after a header line.
enum ClassList {
    struct Row {
        let name: String
        let number: String
    }

    /// The path of a learner the roster names but who handed in nothing.
    static let missing = "\u{0}missing"

    static func read(_ path: String) throws -> [String: Row] {
        let data = try FileProblem.attempt("read", path) { try Data(contentsOf: URL(fileURLWithPath: path)) }
        var text = String(decoding: data, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }  // a spreadsheet's byte-order mark
        var rows: [String: Row] = [:]
        for (number, fields) in CSV.parse(text).enumerated().dropFirst() where !fields.allSatisfy({ $0.isEmpty }) {
            let folder = fields[0].trimmingCharacters(in: .whitespaces)
            guard !folder.isEmpty else { throw WorkbookError("\(path), line \(number + 1): the first field (the folder) is empty") }
            let name = fields.count > 1 ? fields[1].trimmingCharacters(in: .whitespaces) : ""
            rows[Submission.id(of: folder)] = Row(name: name.isEmpty ? folder : name, number: fields.count > 2 ? fields[2].trimmingCharacters(in: .whitespaces) : "")
        }
        return rows
    }
}

/// RFC 4180 CSV, read: fields in double quotes may hold commas, quotes ("") and line breaks.
enum CSV {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var characters = text.makeIterator()
        var pending: Character?
        while let character = pending ?? characters.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    let next = characters.next()
                    if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                } else {
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"": quoted = true
            case ",": row.append(field); field = ""
            case "\n", "\r\n", "\r": row.append(field); rows.append(row); row = []; field = ""
            default: field.append(character)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
