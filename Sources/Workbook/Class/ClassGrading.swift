import Foundation
import GradingHarness

/// Grades a class: each submission's answers with the instructor's own graders.
///
/// One build folder (the instructor's .build) serves every submission: the answers are copied
/// into one staging folder (.workbook/class/answers) that the lesson modules are built from
/// (WORKBOOK_ANSWERS), so a build recompiles only the lessons whose answer changed, and
/// relinks the test bundle. The bundle is then copied aside and graded while the next
/// submission builds. A lesson's grade is cached by the hash of its answer, the graders'
/// fingerprint and the seed: the same answer is graded once, however many learners hand it in
/// and however often the class is graded.
final class ClassGrading: @unchecked Sendable {
    let instructor: InstructorCopy
    let seed: UInt64
    /// How many submissions are graded at once.
    let jobs: Int
    let useCache: Bool
    /// Called with (finished, total, seconds so far) after each submission.
    var progress: (Int, Int, Double) -> Void = { _, _, _ in }

    private var workspace: Workspace { instructor.workspace }
    private let fingerprint: String
    private let staging = ".workbook/class/answers"
    private let cacheFolder: URL
    private let scratch: URL

    init(instructor: InstructorCopy, seed: UInt64, jobs: Int, useCache: Bool) throws {
        self.instructor = instructor
        self.seed = seed
        self.jobs = max(1, jobs)
        self.useCache = useCache
        fingerprint = instructor.fingerprints.combined
        cacheFolder = try instructor.workspace.writable(".workbook/class/cache")
        _ = try instructor.workspace.writable(staging)
        try FileManager.default.createDirectory(at: cacheFolder, withIntermediateDirectories: true)
        guard let scratch = Cleanup.shared.scratch else { throw WorkbookError("no private temporary folder") }
        self.scratch = scratch.appendingPathComponent("class")
    }

    /// What to grade: a submission's path, its id, and the roster's name and number for it.
    struct Entry {
        let path: String
        let id: String
        let name: String
        let studentNumber: String
    }

    /// Grades every entry; rows come back in the entries' order.
    func grade(_ entries: [Entry]) -> [ClassRoster.Learner] {
        let rows = RowBox(count: entries.count)
        let running = DispatchSemaphore(value: jobs)
        let finished = DispatchGroup()
        let started = Date()
        let counter = Counter()
        for (index, entry) in entries.enumerated() {
            let prepared = prepare(entry, index: index)
            // At most `jobs` submissions are graded at once; the next one builds meanwhile.
            running.wait()
            finished.enter()
            Thread {
                rows.set(index, self.finish(prepared))
                running.signal()
                let done = counter.increment()
                self.progress(done, entries.count, Date().timeIntervalSince(started))
                finished.leave()
            }.start()
        }
        finished.wait()
        return rows.values
    }

    // MARK: One submission

    /// A submission opened, its lessons looked up in the cache, and built if any were not.
    private struct Prepared {
        var row: ClassRoster.Learner
        /// Lessons still to grade, with the copy of their answers the bundle was built from.
        var toGrade: [LessonInfo] = []
        var answers: URL?
        var bundle: URL?
        /// Per lesson tag: the cache key of its answer.
        var keys: [String: String] = [:]
    }

    private func prepare(_ entry: Entry, index: Int) -> Prepared {
        let folder = scratch.appendingPathComponent(String(index))
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let submission = Submission.open(entry.path, id: entry.id, scratch: folder)
        var row = ClassRoster.Learner(
            id: entry.id, name: entry.name, studentNumber: entry.studentNumber, source: entry.path,
            problem: submission.problem, lessons: [], flags: submission.flags)
        guard submission.problem == nil else { return Prepared(row: row) }
        let changed = instructor.changedFiles(submission)
        if !changed.isEmpty {
            let shown = changed.prefix(5).joined(separator: ", ") + (changed.count > 5 ? " and \(changed.count - 5) more" : "")
            row.flags.append(ClassRoster.Flag(kind: .changedGradingFiles, reason: "differs from your copy: \(shown) (graded with your graders all the same)"))
        }

        // The answers as graded: the submission's, or the stub where it has none.
        var answers: [String: [String: Data]] = [:]
        for lesson in Curriculum.lessons {
            let handedIn = submission.answers[lesson.tag] ?? [:]
            answers[lesson.tag] = handedIn.isEmpty ? instructor.stub(lesson) : handedIn
        }
        let copy = folder.appendingPathComponent("answers")
        write(answers, to: copy)
        var prepared = Prepared(row: row, answers: copy)
        for lesson in Curriculum.lessons {
            let files = answers[lesson.tag]!
            let imports = AnswerImports.disallowed(in: copy.appendingPathComponent(lesson.tag))
            for found in imports {
                prepared.row.flags.append(ClassRoster.Flag(kind: .disallowedImport, reason: "Exercises/\(found.file) imports \(found.module)"))
            }
            let key = cacheKey(lesson, files)
            prepared.keys[lesson.tag] = key
            let normalized = NormalizedAnswer.hash(files)
            let isStub = normalized == NormalizedAnswer.hash(instructor.stub(lesson))
            if useCache, var cached = cached(key) {
                cached.normalized = isStub ? nil : normalized
                prepared.row.lessons.append(cached)
            } else {
                prepared.row.lessons.append(ClassRoster.Lesson(
                    number: lesson.number, state: .notStarted, passed: 0, total: 0, failures: [], normalized: isStub ? nil : normalized))
                prepared.toGrade.append(lesson)
            }
        }
        if !prepared.toGrade.isEmpty { build(&prepared, answers: answers, folder: folder) }
        return prepared
    }

    /// Builds the test bundle from the submission's answers and copies it aside. A lesson that
    /// does not compile is graded "does not compile" with the compiler's errors, and built
    /// again as its stub, so that the other lessons are still graded.
    private func build(_ prepared: inout Prepared, answers: [String: [String: Data]], folder: URL) {
        var answers = answers
        var broken: [Int: (lesson: LessonInfo, result: ClassRoster.Lesson)] = [:]
        let builder = Grader(workspace: workspace, environment: ["WORKBOOK_ANSWERS": staging, "WORKBOOK_SOLUTIONS": nil])
        for _ in 0..<3 {
            write(answers, to: workspace.file(staging))
            let errors: String?
            do { errors = try builder.build(for: Curriculum.lessons) } catch { errors = "the build could not start: \(error)" }
            guard let errors else {
                let bundle = folder.appendingPathComponent("\(Grader.testProduct).xctest")
                do {
                    try FileManager.default.copyItem(at: try builder.testBundle, to: bundle)
                    prepared.bundle = bundle
                } catch {
                    prepared.row.problem = "the graders built, but could not be copied: \(FileProblem.oneLine(error))"
                    return
                }
                // A lesson that does not compile passes none of its checks: count them.
                for (lesson, var result) in broken.values {
                    result.total = (try? builder.checkNames(lesson, bundle: bundle).count) ?? 0
                    setLesson(&prepared, lesson, result, cache: true)
                }
                return
            }
            // Which lessons the errors are in: their answer's folder, or their grader (an
            // exercise function whose signature was changed breaks the grader that calls it).
            let failing = Curriculum.lessons.filter { lesson in
                errors.contains("\(staging)/\(lesson.tag)/") || errors.contains("Tests/Graders/\(lesson.grader).swift")
            }
            let fixable = failing.filter { answers[$0.tag] != instructor.stub($0) }
            guard !fixable.isEmpty else { break }
            for lesson in fixable {
                answers[lesson.tag] = instructor.stub(lesson)
                let own = errors.components(separatedBy: "\n\n").filter { $0.contains("/\(lesson.tag)/") || $0.contains(lesson.grader) }
                let shown = (own.isEmpty ? errors : own.joined(separator: "\n\n")).replacingOccurrences(of: staging + "/", with: "Exercises/")
                // Errors only in the grader: the answer compiles, but no longer fits the
                // functions the grader calls.
                let why = errors.contains("\(staging)/\(lesson.tag)/") ? "" : "The answer compiles, but the grader cannot call it: an exercise function's name or signature was changed (the stub has the right one).\n"
                broken[lesson.number] = (lesson, ClassRoster.Lesson(
                    number: lesson.number, state: .doesNotCompile, passed: 0, total: 0,
                    failures: [ClassRoster.Failure(check: "build", verdict: "does not compile", messages: [why + shown])],
                    normalized: nil))
            }
        }
        prepared.row.problem = "the graders did not build, even with the stubs in place of the answers that do not compile"
        prepared.toGrade = []
    }

    /// Grades what `prepare` left to grade, with the bundle built for it.
    private func finish(_ prepared: Prepared) -> ClassRoster.Learner {
        var prepared = prepared
        guard prepared.row.problem == nil, let bundle = prepared.bundle, let answers = prepared.answers else { return prepared.row }
        // The checks read the answers' imports from the frozen copy, not the staging folder
        // that the next submission is already using.
        var grader = Grader(workspace: workspace, environment: ["WORKBOOK_ANSWERS": answers.path, "WORKBOOK_SOLUTIONS": nil])
        grader.seed = seed
        let toGrade = prepared.toGrade.filter { lesson in
            prepared.row.lessons.first { $0.number == lesson.number }?.state != .doesNotCompile
        }
        for result in grader.grade(toGrade, bundle: bundle) {
            setLesson(&prepared, result.lesson, Self.lesson(result), cache: true)
        }
        try? FileManager.default.removeItem(at: bundle)
        return prepared.row
    }

    private func setLesson(_ prepared: inout Prepared, _ lesson: LessonInfo, _ graded: ClassRoster.Lesson, cache: Bool) {
        guard let index = prepared.row.lessons.firstIndex(where: { $0.number == lesson.number }) else { return }
        var graded = graded
        graded.normalized = prepared.row.lessons[index].normalized
        prepared.row.lessons[index] = graded
        if cache, let key = prepared.keys[lesson.tag] { store(graded, key) }
    }

    /// A lesson's grade in the roster's terms.
    static func lesson(_ result: LessonResult) -> ClassRoster.Lesson {
        let crashed = result.checks.contains { $0.verdict == .crashed || $0.verdict == .timedOut }
        let state: ClassRoster.State = switch result.state {
        case .done: .done
        case .notStarted: .notStarted
        default: crashed ? .crashed : .failing
        }
        var failures = result.checks.filter { $0.verdict != .passed && $0.verdict != .notStarted }
            .map { ClassRoster.Failure(check: $0.title, verdict: $0.verdict.rawValue, messages: $0.messages) }
        if let problem = result.problem, failures.allSatisfy({ !$0.messages.contains(problem) }) {
            failures.insert(ClassRoster.Failure(check: "lesson", verdict: "problem", messages: [problem]), at: 0)
        }
        return ClassRoster.Lesson(
            number: result.lesson.number, state: state, passed: result.passed, total: result.checks.count,
            failures: state == .notStarted ? [] : failures, normalized: nil)
    }

    // MARK: Files and cache

    /// Makes `folder` hold exactly `answers`: a file whose contents are the same is left as it
    /// is (its date too), so the build recompiles only the lessons that changed.
    private func write(_ answers: [String: [String: Data]], to folder: URL) {
        let files = FileManager.default
        for (tag, lessonFiles) in answers {
            let lessonFolder = folder.appendingPathComponent(tag)
            for old in Submission.walk(lessonFolder) where lessonFiles[old] == nil {
                try? files.removeItem(at: lessonFolder.appendingPathComponent(old))
            }
            for (name, data) in lessonFiles {
                let url = lessonFolder.appendingPathComponent(name)
                if files.contents(atPath: url.path) == data { continue }
                try? files.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try? data.write(to: url)
            }
        }
    }

    private func cacheKey(_ lesson: LessonInfo, _ files: [String: Data]) -> String {
        var hash = SHA256()
        hash.update("\(fingerprint) seed \(seed) \(lesson.tag)\n")
        for name in files.keys.sorted() {
            hash.update("\(name) \(files[name]!.count)\n")
            hash.update(files[name]!)
        }
        return hash.hex()
    }

    private func cached(_ key: String) -> ClassRoster.Lesson? {
        guard let data = FileManager.default.contents(atPath: cacheFolder.appendingPathComponent(key + ".json").path) else { return nil }
        return try? JSONDecoder().decode(ClassRoster.Lesson.self, from: data)
    }

    /// Stores a grade, unless it says the grader itself failed (a crash or a hang can be the
    /// machine's doing: worth grading again next time).
    private func store(_ lesson: ClassRoster.Lesson, _ key: String) {
        guard lesson.state != .crashed, let data = try? JSONEncoder().encode(lesson) else { return }
        let file = cacheFolder.appendingPathComponent(key + ".json")
        let partial = cacheFolder.appendingPathComponent(".\(key).\(getpid()).partial")
        if (try? data.write(to: partial)) != nil, rename(partial.path, file.path) != 0 { try? FileManager.default.removeItem(at: partial) }
    }
}

/// Rows filled in by the grading threads.
private final class RowBox: @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [ClassRoster.Learner?]
    init(count: Int) { rows = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ row: ClassRoster.Learner) { lock.withLock { rows[index] = row } }
    var values: [ClassRoster.Learner] { lock.withLock { rows.compactMap { $0 } } }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() -> Int { lock.withLock { value += 1; return value } }
}
