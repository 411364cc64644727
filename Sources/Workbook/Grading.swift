import Foundation
import GradingHarness

/// How one check ended, as the workbook reports it.
enum Verdict: String, Codable {
    case passed
    case failed
    case notStarted = "not started"
    /// The learner's code crashed the grading process during this check.
    case crashed
    /// The grading process did not finish in time during this check.
    case timedOut = "timed out"
    /// Never reached: an earlier check crashed or hung.
    case notRun = "not run"
}

struct CheckResult: Codable {
    /// The grader's test method, e.g. "test2_makeListenerUsesThePortGiven".
    let name: String
    let verdict: Verdict
    let messages: [String]

    /// As a learner reads it: "2. makeListenerUsesThePortGiven".
    var title: String {
        guard name.hasPrefix("test"), let underscore = name.firstIndex(of: "_") else { return name }
        let number = name[name.index(name.startIndex, offsetBy: 4)..<underscore]
        return "\(number). \(name[name.index(after: underscore)...])"
    }
}

/// A lesson's grade: every check, and what went wrong with the run itself, if anything.
struct LessonResult {
    let lesson: LessonInfo
    let checks: [CheckResult]
    /// Set when the run did not finish normally: the code did not compile, crashed, or hung.
    let problem: String?

    var state: LessonState {
        if problem != nil { return .failing }
        return LessonState(checks.map { verdict in
            switch verdict.verdict {
            case .passed: return .passed
            case .notStarted: return .notStarted
            default: return .failed
            }
        })
    }

    var passed: Int { checks.filter { $0.verdict == .passed }.count }
}

/// Builds the graders and runs one lesson's grader in a process of its own, with a hard
/// time limit, reading its results from the WORKBOOK_RESULTS stream rather than XCTest's
/// console output.
struct Grader {
    let workspace: Workspace
    /// Extra environment for the builds and runs (the known-bad check sets WORKBOOK_ANSWERS).
    var environment: [String: String?] = [:]
    /// Longest a check's process may take before it is killed.
    var limit: Double = 120
    /// The seed the checks draw their inputs from (WORKBOOK_SEED); nil: the graders' default.
    /// Given to the grading runs only, never to the build, so it costs no rebuild.
    var seed: UInt64?

    static let testProduct = "SocketWorkbookPackageTests"

    /// Builds what grading the lessons needs; nil when it built, else the compiler's errors.
    /// Only the test bundle (the checks that need a process of their own start the bundle
    /// again): one build, not the whole package, is what keeps a check fast.
    func build(for lessons: [LessonInfo]) throws -> String? {
        forgetStaleObjects()
        let (ending, output) = try workspace.runSwift(["build", "--product", Self.testProduct], environment: environment)
        return ending == .exited(0) ? nil : compilerErrors(output)
    }

    /// The folder the lesson modules are built from, as Package.swift will see it.
    var answersFolder: String {
        func value(_ key: String) -> String? {
            if let override = environment[key] { return override }  // nil here means "unset"
            return ProcessInfo.processInfo.environment[key]
        }
        if let folder = value("WORKBOOK_ANSWERS"), !folder.isEmpty { return folder }
        return value("WORKBOOK_SOLUTIONS") == "1" ? "Solutions" : "Exercises"
    }

    /// Removes a lesson module's object files when one of its sources is newer than them.
    ///
    /// The incremental build can miss an edit made within about a second after the previous
    /// build (seen here with Swift 6.3: the module was not recompiled, and the grade was of
    /// the old code; compare swift-driver PR #2188). Without its objects the module must be
    /// compiled; a module that has not changed keeps them and costs nothing.
    func forgetStaleObjects() {
        let files = FileManager.default
        for lesson in Curriculum.lessons {
            let objects = workspace.file(".build/debug/\(lesson.tag).build")
            let compiled = ((try? files.contentsOfDirectory(atPath: objects.path)) ?? []).filter { $0.hasSuffix(".o") }
            let oldest = compiled.compactMap { (try? files.attributesOfItem(atPath: objects.appendingPathComponent($0).path))?[.modificationDate] as? Date }.min()
            guard let oldest else { continue }
            let sources = workspace.file("\(answersFolder)/\(lesson.tag)")
            let newest = ((try? files.contentsOfDirectory(atPath: sources.path)) ?? []).filter { $0.hasSuffix(".swift") }
                .compactMap { (try? files.attributesOfItem(atPath: sources.appendingPathComponent($0).path))?[.modificationDate] as? Date }.max()
            if let newest, newest >= oldest {
                for object in compiled { try? files.removeItem(at: objects.appendingPathComponent(object)) }
            }
        }
    }

    /// The compiler's errors, each whole: its first line, then every line of its source
    /// excerpt (the offending line and the marker under it) up to the blank line that ends
    /// it; each error once, paths relative to the package.
    func compilerErrors(_ output: String) -> String {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.replacingOccurrences(of: workspace.root.path + "/", with: "") }
        var picked: [String] = []
        var seen = Set<String>()
        var index = 0
        while index < lines.count {
            let line = lines[index]
            index += 1
            guard line.contains("error:"), !line.hasPrefix("error: fatalError"), !line.hasPrefix(" "),
                  !line.contains("|"), seen.insert(line).inserted else { continue }
            picked.append(line)
            // The excerpt: numbered source lines ("18 |"), markers ("   |"), notes; it ends
            // at a blank line or at the next diagnostic.
            while index < lines.count, !lines[index].isEmpty, lines[index].contains("|") {
                picked.append(lines[index])
                index += 1
            }
            picked.append("")
        }
        if picked.isEmpty { return lines.suffix(20).joined(separator: "\n") }
        return picked.prefix(80).joined(separator: "\n").trimmingCharacters(in: .newlines)
    }

    var testBundle: URL {
        get throws {
            // The default build folder: asking SwiftPM (--show-bin-path) costs a few tenths of
            // a second on every check, and a check should be quick.
            let usual = workspace.file(".build/debug/\(Self.testProduct).xctest")
            if FileManager.default.fileExists(atPath: usual.path) { return usual }
            let (ending, output) = try workspace.runSwift(["build", "--show-bin-path"], environment: environment, seconds: 60)
            guard ending == .exited(0) else { throw WorkbookError("swift build --show-bin-path failed: \(output)") }
            return URL(fileURLWithPath: output.trimmingCharacters(in: .whitespacesAndNewlines))
                .appendingPathComponent("\(Self.testProduct).xctest")
        }
    }

    /// How to run the test bundle: on Linux it is a program; on macOS a bundle that
    /// `xcrun xctest` loads. (The macOS form is written from Apple's documentation and is not
    /// tested here.)
    private func runner(_ bundle: URL, _ arguments: [String]) -> (URL, [String]) {
        #if os(macOS)
        return (URL(fileURLWithPath: "/usr/bin/xcrun"), ["xctest"] + arguments + [bundle.path])
        #else
        return (bundle, arguments)
        #endif
    }

    /// The checks a lesson has, in order (from the test bundle's own list).
    func checkNames(_ lesson: LessonInfo, bundle: URL) throws -> [String] {
        let (program, arguments) = runner(bundle, ["--list-tests"])
        let (_, output) = try ChildProcess.run(program, arguments, seconds: 30)
        return output.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: "Graders.\(lesson.grader)/") else { return nil }
            return String(line[range.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
    }

    /// The answer files of `lesson` that import a module an answer may not use, as one line
    /// each ("Exercises/Lesson03/Client.swift imports GradingHarness ..."); empty when none.
    func disallowedImports(_ lesson: LessonInfo) -> [String] {
        let folder = answersFolder.hasPrefix("/") ? URL(fileURLWithPath: answersFolder) : workspace.file(answersFolder)
        return AnswerImports.disallowed(in: folder.appendingPathComponent(lesson.tag)).map { found in
            "\(answersFolder)/\(found.file) imports \(found.module): an answer may import only SocketKit and the toolchain's modules (Foundation, Dispatch, Synchronization, Glibc, Darwin)"
        }
    }

    /// At most this many grading processes run at once, all lessons together: most checks
    /// wait on purpose (for a timeout, a drip, a peer), so more processes than the two cores
    /// still pay off.
    static let slots = DispatchSemaphore(value: 6)

    /// Grades one lesson: each check in a process of its own, up to `slots` at once, taken in
    /// order from a queue, so that the lesson takes about as long as its slowest check. A
    /// process starts in about 0.03 s; a crash or a hang ends only its own check.
    /// The bundle must be built.
    func grade(_ lesson: LessonInfo, bundle: URL) throws -> LessonResult {
        let names = try checkNames(lesson, bundle: bundle)
        let imports = disallowedImports(lesson)
        if !imports.isEmpty {
            // Never run an answer that could reach into the harness: it could grade itself.
            // The import check fails (with the graders' hint id); the rest are not run.
            let hint = "hint [disallowed-import]: remove the import; the graders' harness is not part of your answer."
            let checks = names.map { name in
                name.hasPrefix("test0_")
                    ? CheckResult(name: name, verdict: .failed, messages: [hint])
                    : CheckResult(name: name, verdict: .notRun, messages: [])
            }
            return LessonResult(lesson: lesson, checks: checks, problem: imports.joined(separator: "\n"))
        }
        // The slowest checks first (by how long each took last time): the lesson then ends
        // soon after its slowest check, not after a slow one that started last.
        let timings = CheckTimings(workspace)
        let queue = CheckQueue(names.enumerated().sorted { timings.seconds($0.element) > timings.seconds($1.element) })
        let box = ResultsBox<CheckRun>(count: names.count)
        onThreads(min(6, names.count)) { _ in
            while let (index, name) = queue.next() {
                Self.slots.wait()
                let started = Date()
                let (finished, stopped) = runOnce([name], of: lesson, bundle: bundle)
                Self.slots.signal()
                timings.record(name, Date().timeIntervalSince(started))
                box.set(index, finished[name] ?? stopped ?? CheckRun(result: CheckResult(name: name, verdict: .notRun, messages: []), problem: nil))
            }
        }
        timings.save()
        let ordered = box.values
        let problems = ordered.compactMap(\.problem)
        return LessonResult(lesson: lesson, checks: ordered.map(\.result), problem: problems.isEmpty ? nil : problems.joined(separator: "\n"))
    }

    /// One check's result, and what went wrong with its process, if anything.
    private struct CheckRun {
        let result: CheckResult
        let problem: String?
    }

    /// One grading process for `names`: the checks that finished, and the one it stopped in
    /// (nil when it ran them all).
    private func runOnce(_ names: [String], of lesson: LessonInfo, bundle: URL) -> (finished: [String: CheckRun], stopped: CheckRun?) {
        // In the workbook's private temporary folder, as are the check's own temporary files
        // (TMPDIR): an interrupted workbook removes the folder (Cleanup, Shutdown).
        let results = Cleanup.shared.temporaryFile("workbook-results-", ".jsonl")
        defer { try? FileManager.default.removeItem(at: results) }
        var runEnvironment = environment
        runEnvironment["WORKBOOK_RESULTS"] = results.path
        if let scratch = Cleanup.shared.scratch { runEnvironment["TMPDIR"] = scratch.path }
        if let seed { runEnvironment["WORKBOOK_SEED"] = String(seed) }
        runEnvironment.updateValue(nil, forKey: "WORKBOOK_STRICT")  // the workbook tells not started apart itself
        let list = names.map { "Graders.\(lesson.grader)/\($0)" }.joined(separator: ",")
        #if os(macOS)
        let filter = ["-XCTest", list]
        #else
        let filter = [list]
        #endif
        let (program, arguments) = runner(bundle, filter)
        guard let (ending, output) = try? ChildProcess.run(
            program, arguments, environment: runEnvironment, directory: workspace.root, seconds: limit)
        else {
            let problem = "the grader could not be started"
            return ([:], CheckRun(result: CheckResult(name: names[0], verdict: .notRun, messages: [problem]), problem: problem))
        }
        let events = ResultsStream.read(results.path)
        var finished: [String: CheckRun] = [:]
        for event in events where event.kind == .finished && names.contains(Self.method(event.test)) {
            let verdict: Verdict = switch event.status {
            case .passed?: .passed
            case .notStarted?: .notStarted
            default: .failed
            }
            let name = Self.method(event.test)
            finished[name] = CheckRun(result: CheckResult(name: name, verdict: verdict, messages: event.messages), problem: nil)
        }
        if names.allSatisfy({ finished[$0] != nil }) { return (finished, nil) }
        // The check it was in: started and never finished; else the first that never ran.
        let started = events.last { $0.kind == .started && finished[Self.method($0.test)] == nil }.map { Self.method($0.test) }
        let name = started ?? names.first { finished[$0] == nil }!
        let problem: String
        let verdict: Verdict
        switch ending {
        case .killedBy(let signal):
            verdict = .crashed
            problem = "your code crashed the grader (signal \(signal)\(signal == SIGILL || signal == SIGTRAP ? ": a Swift trap" : "")) during \(name)" + Self.crashLines(output)
        case .timedOut:
            verdict = .timedOut
            problem = "the grader did not finish within \(Int(limit)) s; it was in \(name)"
        case .exited:
            verdict = .crashed
            problem = "\(name) ended without a result: the grader printed\n" + output.split(separator: "\n").suffix(15).joined(separator: "\n")
        }
        return (finished, CheckRun(result: CheckResult(name: name, verdict: verdict, messages: [problem]), problem: problem))
    }

    /// Grades several lessons, two at a time, in order (each lesson's checks share `slots`).
    func grade(_ lessons: [LessonInfo], bundle: URL) -> [LessonResult] {
        let box = ResultsBox<LessonResult>(count: lessons.count)
        onThreads(lessons.count) { index in
            let lesson = lessons[index]
            let result = (try? grade(lesson, bundle: bundle))
                ?? LessonResult(lesson: lesson, checks: [], problem: "the grader could not be started")
            box.set(index, result)
        }
        return box.values
    }

    /// "Graders.Lesson01CreateGrader.test1_x" or "Lesson01CreateGrader.test1_x" -> "test1_x"
    static func method(_ test: String) -> String {
        test.split(whereSeparator: { $0 == "." || $0 == "/" }).last.map(String.init) ?? test
    }

    /// The lines of a crash report a learner can act on: Swift's "Fatal error" line.
    static func crashLines(_ output: String) -> String {
        let lines = output.split(separator: "\n").filter { $0.contains("Fatal error") || $0.contains("fatal error") }
        return lines.isEmpty ? "" : "\n  " + lines.prefix(3).joined(separator: "\n  ")
    }
}

/// Runs `body(0)` ... `body(count - 1)` each on a thread of its own, all at once, and
/// returns when all have returned. Not DispatchQueue.concurrentPerform: that runs about as
/// many at once as there are cores (two here), and these threads mostly wait for a grading
/// process, so they would queue behind each other.
private func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let finished = DispatchGroup()
    for index in 0..<count {
        finished.enter()
        Thread {
            body(index)
            finished.leave()
        }.start()
    }
    finished.wait()
}

/// The checks of a lesson (each with its place in the lesson), handed out one at a time to
/// the processes that grade them.
private final class CheckQueue: @unchecked Sendable {
    private let lock = NSLock()
    private let checks: [(offset: Int, element: String)]
    private var taken = 0
    init(_ checks: [(offset: Int, element: String)]) { self.checks = checks }
    func next() -> (Int, String)? {
        lock.withLock {
            guard taken < checks.count else { return nil }
            defer { taken += 1 }
            return checks[taken]
        }
    }
}

/// How long each check took the last time it ran, kept in .build (a cache: losing it costs
/// only the order of the next run). Only the order of the checks depends on it, never a
/// verdict.
private final class CheckTimings: @unchecked Sendable {
    private let lock = NSLock()
    private let file: URL
    private var table: [String: Double]

    init(_ workspace: Workspace) {
        file = workspace.file(".build/workbook-check-seconds.json")
        table = (try? JSONDecoder().decode([String: Double].self, from: Data(contentsOf: file))) ?? [:]
    }

    func seconds(_ name: String) -> Double { lock.withLock { table[name] ?? 0 } }
    func record(_ name: String, _ seconds: Double) { lock.withLock { table[name] = seconds } }

    /// Written whole and renamed into place, so a reader never sees half a file.
    func save() {
        guard let data = lock.withLock({ try? JSONEncoder().encode(table) }) else { return }
        let partial = file.deletingLastPathComponent().appendingPathComponent(".workbook-check-seconds.\(getpid()).json")
        guard (try? data.write(to: partial)) != nil else { return }
        if rename(partial.path, file.path) != 0 { try? FileManager.default.removeItem(at: partial) }
    }
}

/// Results filled in by concurrent grading, read once all are in.
private final class ResultsBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Value?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: Value) { lock.withLock { slots[index] = value } }
    var values: [Value] { lock.withLock { slots.compactMap { $0 } } }
}
