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
    /// Longest a lesson's grading may take before it is killed.
    var limit: Double = 120

    static let testProduct = "SocketWorkbookPackageTests"

    /// Builds what grading the lessons needs; nil when it built, else the compiler's errors.
    /// Only the test bundle, plus grader-child for lesson 3: that is what keeps a check fast.
    func build(for lessons: [LessonInfo]) throws -> String? {
        forgetStaleObjects()
        var products = [Self.testProduct]
        if lessons.contains(where: { $0.number == 3 }) { products.append("grader-child") }
        for product in products {
            let (ending, output) = try workspace.runSwift(["build", "--product", product], environment: environment)
            if ending != .exited(0) { return Self.compilerErrors(output) }
        }
        return nil
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

    /// The compiler's error lines (each with the two lines that show where), without the rest.
    static func compilerErrors(_ output: String) -> String {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var picked: [String] = []
        var seen = Set<String>()
        for (index, line) in lines.enumerated() where line.contains("error:") && !line.hasPrefix("error: fatalError") {
            guard seen.insert(line).inserted else { continue }
            picked.append(contentsOf: lines[index..<min(lines.count, index + 3)])
        }
        return picked.isEmpty ? lines.suffix(20).joined(separator: "\n") : picked.prefix(40).joined(separator: "\n")
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

    /// Grades one lesson in its own process. The bundle must be built.
    func grade(_ lesson: LessonInfo, bundle: URL) throws -> LessonResult {
        let names = try checkNames(lesson, bundle: bundle)
        let results = FileManager.default.temporaryDirectory.appendingPathComponent("workbook-results-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: results) }
        var runEnvironment = environment
        runEnvironment["WORKBOOK_RESULTS"] = results.path
        runEnvironment.updateValue(nil, forKey: "WORKBOOK_STRICT")  // the workbook tells not started apart itself
        #if os(macOS)
        let filter = ["-XCTest", "Graders.\(lesson.grader)"]
        #else
        let filter = ["Graders.\(lesson.grader)"]
        #endif
        let (program, arguments) = runner(bundle, filter)
        let (ending, output) = try ChildProcess.run(
            program, arguments, environment: runEnvironment, directory: workspace.root, seconds: limit)

        let events = ResultsStream.read(results.path)
        var finished: [String: CheckEvent] = [:]
        for event in events where event.kind == .finished { finished[Self.method(event.test)] = event }
        let running = events.last { $0.kind == .started && finished[Self.method($0.test)] == nil }.map { Self.method($0.test) }

        var problem: String?
        switch ending {
        case .exited: break
        case .killedBy(let signal):
            problem = "your code crashed the grader (signal \(signal)\(signal == SIGILL || signal == SIGTRAP ? ": a Swift trap" : ""))"
                + (running.map { " during \($0)" } ?? "") + Self.crashLines(output)
        case .timedOut:
            problem = "the grader did not finish within \(Int(limit)) s" + (running.map { "; it was in \($0)" } ?? "")
        }
        if problem == nil && finished.isEmpty {
            problem = "no checks ran: the grader printed\n" + output.split(separator: "\n").suffix(15).joined(separator: "\n")
        }

        let checks = names.map { name -> CheckResult in
            if let event = finished[name] {
                let verdict: Verdict = switch event.status {
                case .passed?: .passed
                case .notStarted?: .notStarted
                default: .failed
                }
                return CheckResult(name: name, verdict: verdict, messages: event.messages)
            }
            if name == running {
                return CheckResult(name: name, verdict: ending == .timedOut ? .timedOut : .crashed, messages: problem.map { [$0] } ?? [])
            }
            return CheckResult(name: name, verdict: .notRun, messages: [])
        }
        return LessonResult(lesson: lesson, checks: checks, problem: problem)
    }

    /// Grades several lessons, two processes at a time (the machine has two cores), in order.
    func grade(_ lessons: [LessonInfo], bundle: URL) -> [LessonResult] {
        let box = ResultsBox(count: lessons.count)
        DispatchQueue.concurrentPerform(iterations: lessons.count) { index in
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

/// Results filled in by concurrent grading, read once all are in.
private final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [LessonResult?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: LessonResult) { lock.withLock { slots[index] = value } }
    var values: [LessonResult] { lock.withLock { slots.compactMap { $0 } } }
}
