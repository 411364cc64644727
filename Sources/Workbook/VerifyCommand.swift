import Foundation
import GradingHarness

/// `workbook verify`: the workbook's checks on itself (design.md, "Checks the workbook runs
/// on itself"), as .ci/run uses them.
enum VerifyCommand {
    static let help = """
        usage: swift run workbook verify [--only STEP] [KnownBad/LessonNN/name.patch | KnownGood/LessonNN/name.swift ...]

        The workbook's self-checks, for maintainers and CI:
          1. every exercise is still its original stub (Exercises/ equals Exercises/.pristine/);
          2. graded from Exercises/, every check of every lesson is "not started";
          3. graded from Solutions/ (WORKBOOK_SOLUTIONS=1), every check passes;
          4. every Swift block in Lessons/*.md typechecks against the package (Swift 6 mode, no
             warnings), importing SocketKit and its lesson's module;
          5. every known-bad answer in KnownBad/ (a patch against Solutions/ naming the hint it
             must get, "# expect-hint: id") is rejected, with that hint;
          6. every known-good answer in KnownGood/ (a whole lesson file, correct but written in
             an unusual style) passes every check: a stricter check must never reject correct code;
          7. every lesson page and hint page in Lessons/zh-Hans/ and Lessons/Hints/zh-Hans/ has the
             English page's headings, tables and code (comments aside), and every relative link
             in both editions leads to a file that exists.
        With files named, runs step 5 or 6 for those only. --only runs one step: pristine,
        stubs, lessons, solutions, known-bad, known-good or editions (every step runs by default).
        Ends with "N passed, N failed"; exit status 1 when anything failed.
        """

    static func run(_ words: [String]) throws -> Int32 {
        let arguments = try Arguments(words, flags: ["only"], command: "verify")
        let steps = ["pristine", "stubs", "lessons", "solutions", "known-bad", "known-good", "editions"]
        let only = arguments.values["only"]
        if let only, !steps.contains(only) {
            throw WorkbookError.usage("--only takes one of \(steps.joined(separator: ", ")), not \"\(only)\"")
        }
        let workspace = try Workspace.find()
        var tally = Tally()
        if arguments.positional.isEmpty {
            let runs = { (step: String) in only == nil || only == step }
            if runs("pristine") { checkPristine(workspace, &tally) }
            if runs("stubs") { try checkAnswers(workspace, &tally, solutions: false) }
            if runs("lessons") { try checkLessonCode(workspace, &tally) }
            if runs("solutions") { try checkAnswers(workspace, &tally, solutions: true) }
            if runs("known-bad") { try checkKnownBad(workspace, allAnswers(workspace, in: "KnownBad", ending: ".patch"), &tally) }
            if runs("known-good") { try checkKnownGood(workspace, allAnswers(workspace, in: "KnownGood", ending: ".swift"), &tally) }
            if runs("editions") { checkEditions(workspace, &tally) }
        } else {
            let files = arguments.positional.map { workspace.file($0) }
            let patches = files.filter { $0.pathExtension == "patch" }
            let goods = files.filter { $0.pathExtension == "swift" }
            if patches.count + goods.count < files.count {
                throw WorkbookError.usage("verify takes KnownBad/LessonNN/name.patch or KnownGood/LessonNN/name.swift files")
            }
            if !patches.isEmpty { try checkKnownBad(workspace, patches, &tally) }
            if !goods.isEmpty { try checkKnownGood(workspace, goods, &tally) }
        }
        print("verify: \(tally.passed) passed, \(tally.failed) failed")
        return tally.failed == 0 ? 0 : 1
    }

    private struct Tally {
        var passed = 0
        var failed = 0
        mutating func record(_ ok: Bool, _ line: String, detail: String? = nil) {
            print((ok ? "ok   " : "FAIL ") + line)
            if !ok, let detail { print(detail.split(separator: "\n", omittingEmptySubsequences: false).map { "       " + $0 }.joined(separator: "\n")) }
            fflush(nil)
            if ok { passed += 1 } else { failed += 1 }
        }
    }

    private static func checkPristine(_ workspace: Workspace, _ tally: inout Tally) {
        for lesson in Curriculum.lessons {
            // A trap in a stub would end the whole test run: stubs throw NotStarted instead.
            let text = (try? String(contentsOf: workspace.file(lesson.exercise), encoding: .utf8)) ?? ""
            tally.record(!text.contains("fatalError(") && text.contains("throw NotStarted()"),
                         "lesson \(lesson.number): its stubs throw NotStarted() and never call fatalError",
                         detail: "\(lesson.exercise) must not call fatalError; each stub body is `throw NotStarted()`")
            let stub = FileManager.default.contents(atPath: workspace.pristine(lesson).path)
            let exercise = FileManager.default.contents(atPath: workspace.file(lesson.exercise).path)
            tally.record(stub != nil && stub == exercise, "lesson \(lesson.number): \(lesson.exercise) is its original stub",
                         detail: stub == nil ? "missing \(workspace.pristine(lesson).path)" : "it differs from Exercises/.pristine/: update one or the other")
        }
    }

    /// The 简体中文 edition against the English one, page by page (PageShape), and every
    /// relative link of both. A lesson with no Chinese page yet is named, not failed: the
    /// edition is being written (issue 13); a Chinese page with no English one fails.
    private static func checkEditions(_ workspace: Workspace, _ tally: inout Tally) {
        let pairs = Curriculum.lessons.flatMap { lesson -> [(String, String)] in
            let hints = lesson.prose.replacingOccurrences(of: "Lessons/", with: "Lessons/Hints/")
            return [(lesson.prose, Workspace.translated(lesson.prose, folder: "Lessons/")), (hints, Workspace.translated(hints, folder: "Lessons/Hints/"))]
        }
        var untranslated: [String] = []
        for (english, chinese) in pairs {
            guard let englishText = try? String(contentsOf: workspace.file(english), encoding: .utf8) else {
                tally.record(false, "\(english) exists")
                continue
            }
            checkLinks(workspace, english, englishText, &tally)
            guard let chineseText = try? String(contentsOf: workspace.file(chinese), encoding: .utf8) else {
                untranslated.append(chinese)
                continue
            }
            let differences = PageShape(englishText).differences(from: PageShape(chineseText), english: english, translation: chinese)
            tally.record(differences.isEmpty, "\(chinese) has the headings, tables and code of \(english)", detail: differences.prefix(8).joined(separator: "\n"))
            checkLinks(workspace, chinese, chineseText, &tally)
        }
        for folder in ["Lessons/zh-Hans", "Lessons/Hints/zh-Hans"] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: workspace.file(folder).path)) ?? []
            for name in names.sorted() where name.hasSuffix(".md") && name != "GLOSSARY.md" && !pairs.contains(where: { $0.1 == "\(folder)/\(name)" }) {
                tally.record(false, "\(folder)/\(name) translates a page of this edition", detail: "no lesson's prose or hints is called \(name)")
            }
        }
        if !untranslated.isEmpty {
            print("note \(untranslated.count) pages have no 简体中文 edition yet: \(untranslated.joined(separator: ", "))")
        }
    }

    private static func checkLinks(_ workspace: Workspace, _ page: String, _ text: String, _ tally: inout Tally) {
        let folder = workspace.file(page).deletingLastPathComponent()
        let broken = PageShape(text).links.filter {
            !FileManager.default.fileExists(atPath: folder.appendingPathComponent($0.removingPercentEncoding ?? $0).standardizedFileURL.path)
        }
        tally.record(broken.isEmpty, "\(page): every relative link leads to a file", detail: "not found: " + broken.joined(separator: ", "))
    }

    /// Stubs: every check not started. Solutions: every check passes.
    private static func checkAnswers(_ workspace: Workspace, _ tally: inout Tally, solutions: Bool) throws {
        let environment: [String: String?] = ["WORKBOOK_SOLUTIONS": solutions ? "1" : nil, "WORKBOOK_ANSWERS": nil]
        let grader = Grader(workspace: workspace, environment: environment)
        let which = solutions ? "Solutions/" : "Exercises/"
        if let errors = try grader.build(for: Curriculum.lessons) {
            tally.record(false, "\(which) builds", detail: errors)
            return
        }
        let expected: Verdict = solutions ? .passed : .notStarted
        for result in grader.grade(Curriculum.lessons, bundle: try grader.testBundle) {
            let wrong = result.checks.filter { $0.verdict != expected }
            let ok = result.problem == nil && !result.checks.isEmpty && wrong.isEmpty
            tally.record(ok, "\(which) lesson \(result.lesson.number): all \(result.checks.count) checks \(expected.rawValue)",
                         detail: ([result.problem].compactMap { $0 } + wrong.map { "\($0.name): \($0.verdict.rawValue)\n" + $0.messages.joined(separator: "\n") }).joined(separator: "\n"))
        }
    }

    /// The code shown in the lessons is code that compiles in the package (design.md). Each
    /// ```swift block becomes a file of its own, importing SocketKit and the lesson's module:
    /// declarations go inside an enum (so blocks cannot collide), statements inside a function.
    private static func checkLessonCode(_ workspace: Workspace, _ tally: inout Tally) throws {
        // The lesson modules' interfaces, from a build of the stubs (same API as the solutions).
        let grader = Grader(workspace: workspace, environment: ["WORKBOOK_SOLUTIONS": nil, "WORKBOOK_ANSWERS": nil])
        if let errors = try grader.build(for: Curriculum.lessons) {
            tally.record(false, "Exercises/ builds (needed to typecheck the lessons' code)", detail: errors)
            return
        }
        let swiftc = workspace.swift.deletingLastPathComponent().appendingPathComponent("swiftc")
        let modules = workspace.file(".build/debug/Modules")
        let scratch = Cleanup.shared.temporaryFile("workbook-snippets-", "")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        for lesson in Curriculum.lessons {
            guard let text = try? String(contentsOf: workspace.file(lesson.prose), encoding: .utf8) else {
                tally.record(false, "\(lesson.prose) exists")
                continue
            }
            let blocks = swiftBlocks(in: text)
            var problems: [String] = []
            for (index, block) in blocks.enumerated() {
                let file = scratch.appendingPathComponent("\(lesson.tag)_\(index + 1).swift")
                let body = declaresSomething(block.code) ? "enum Snippet {\n\(block.code)\n}\n" : "func snippet() throws {\n\(block.code)\n}\n"
                try Data("import Foundation\nimport SocketKit\nimport \(lesson.tag)\n\n\(body)".utf8).write(to: file)
                let (ending, output) = try ChildProcess.run(
                    swiftc, ["-typecheck", "-swift-version", "6", "-I", modules.path, file.path], seconds: 120)
                let complaints = output.split(separator: "\n").filter { $0.contains("error:") || $0.contains("warning:") }
                if ending != .exited(0) || !complaints.isEmpty {
                    problems.append("the block at \(lesson.prose):\(block.line):\n" + complaints.prefix(4).map { "  " + $0.replacingOccurrences(of: file.path, with: "block") }.joined(separator: "\n"))
                }
            }
            tally.record(problems.isEmpty, "\(lesson.prose): all \(blocks.count) Swift blocks typecheck", detail: problems.joined(separator: "\n"))
        }
    }

    /// The ```swift blocks of a Markdown text, with the line each starts on.
    private static func swiftBlocks(in text: String) -> [(code: String, line: Int)] {
        var blocks: [(String, Int)] = []
        var current: [Substring]?
        var start = 0
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if current == nil, line.trimmingCharacters(in: .whitespaces) == "```swift" {
                current = []
                start = number + 2
            } else if current != nil, line.trimmingCharacters(in: .whitespaces) == "```" {
                blocks.append((current!.joined(separator: "\n"), start))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    /// True when a block declares things (func, struct...) rather than running statements.
    private static func declaresSomething(_ code: String) -> Bool {
        let first = code.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty && !$0.hasPrefix("//") } ?? ""
        let words = first.split(separator: " ").map(String.init).drop { $0.hasPrefix("@") || ["public", "private", "fileprivate", "internal", "final", "static"].contains($0) }
        return ["func", "struct", "enum", "extension", "class", "typealias", "protocol"].contains(words.first ?? "")
    }

    /// The files of `folder`/LessonNN/ ending in `ending`, lesson by lesson.
    private static func allAnswers(_ workspace: Workspace, in folder: String, ending: String) -> [URL] {
        let base = workspace.file(folder)
        return Curriculum.lessons.flatMap { lesson -> [URL] in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: base.appendingPathComponent(lesson.tag).path)) ?? []
            return names.filter { $0.hasSuffix(ending) }.sorted().map { base.appendingPathComponent(lesson.tag).appendingPathComponent($0) }
        }
    }

    /// Each known-good answer replaces its lesson's file in a staged copy of Solutions/; that
    /// lesson is graded and every check must pass.
    private static func checkKnownGood(_ workspace: Workspace, _ answers: [URL], _ tally: inout Tally) throws {
        let staging = workspace.file("KnownGood/.staging")
        Cleanup.shared.removeOnExit(staging)  // even when verify is interrupted
        try? FileManager.default.removeItem(at: staging)
        try FileManager.default.copyItem(at: workspace.file("Solutions"), to: staging)
        defer { try? FileManager.default.removeItem(at: staging) }
        let grader = Grader(workspace: workspace, environment: ["WORKBOOK_ANSWERS": "KnownGood/.staging", "WORKBOOK_SOLUTIONS": nil], limit: 120)
        for answer in answers {
            let lessonTag = answer.deletingLastPathComponent().lastPathComponent
            let name = "\(lessonTag)/\(answer.lastPathComponent)"
            guard let lesson = Curriculum.lessons.first(where: { $0.tag == lessonTag }) else {
                tally.record(false, "\(name): not a known-good answer of a lesson (KnownGood/LessonNN/name.swift)")
                continue
            }
            let target = staging.appendingPathComponent(lesson.exercise.replacingOccurrences(of: "Exercises/", with: ""))
            try restore(lessonTag, workspace: workspace, staging: staging)
            try FileManager.default.removeItem(at: target)
            try FileManager.default.copyItem(at: answer, to: target)
            touchSources(target.deletingLastPathComponent())
            defer { try? restore(lessonTag, workspace: workspace, staging: staging) }
            if let errors = try grader.build(for: [lesson]) {
                tally.record(false, "\(name): the known-good answer does not compile", detail: errors)
                continue
            }
            let result = try grader.grade(lesson, bundle: grader.testBundle)
            let wrong = result.checks.filter { $0.verdict != .passed }
            tally.record(result.problem == nil && wrong.isEmpty && !result.checks.isEmpty,
                         "\(name): all \(result.checks.count) checks pass",
                         detail: ([result.problem].compactMap { $0 } + wrong.map { "\($0.name): \($0.verdict.rawValue)\n" + $0.messages.joined(separator: "\n") }).joined(separator: "\n"))
        }
    }

    /// Each patch is applied to a staged copy of Solutions/, that lesson is graded, and a check
    /// must fail with the patch's "# expect-hint:". A grader that passes a wrong answer is the
    /// worst bug this product can have.
    /// A known-bad answer: its patch, the lesson it breaks, and the hint it must get.
    private struct KnownBad {
        let patch: URL
        let name: String
        let lesson: LessonInfo
        let hint: String
        var marker: String { "hint [\(hint)]" }
    }

    /// Known-bad answers, graded in rounds: each round stages one wrong answer of every lesson
    /// at once (the lessons are separate modules), builds once and grades those lessons side
    /// by side. That is one build for up to ten answers instead of one each, which is most of
    /// the time verify takes. An answer whose round does not build, or that is not rejected
    /// with its hint, is graded again on its own (`checkAlone`), so what is recorded is
    /// always that answer's own verdict.
    private static func checkKnownBad(_ workspace: Workspace, _ patches: [URL], _ tally: inout Tally) throws {
        let staging = workspace.file("KnownBad/.staging")
        Cleanup.shared.removeOnExit(staging)  // even when verify is interrupted
        try? FileManager.default.removeItem(at: staging)
        try FileManager.default.copyItem(at: workspace.file("Solutions"), to: staging)
        defer { try? FileManager.default.removeItem(at: staging) }
        let environment: [String: String?] = ["WORKBOOK_ANSWERS": "KnownBad/.staging", "WORKBOOK_SOLUTIONS": nil]
        let grader = Grader(workspace: workspace, environment: environment, limit: 120)

        var queues: [[KnownBad]] = Curriculum.lessons.map { _ in [] }
        for patch in patches {
            let lessonTag = patch.deletingLastPathComponent().lastPathComponent
            let name = "\(lessonTag)/\(patch.deletingPathExtension().lastPathComponent)"
            guard let index = Curriculum.lessons.firstIndex(where: { $0.tag == lessonTag }),
                  let text = try? String(contentsOf: patch, encoding: .utf8) else {
                tally.record(false, "\(name): not a known-bad patch of a lesson (KnownBad/LessonNN/name.patch)")
                continue
            }
            guard let hint = text.split(separator: "\n").first(where: { $0.hasPrefix("# expect-hint:") })?
                .dropFirst("# expect-hint:".count).trimmingCharacters(in: .whitespaces), !hint.isEmpty else {
                tally.record(false, "\(name): no '# expect-hint:' line")
                continue
            }
            queues[index].append(KnownBad(patch: patch, name: name, lesson: Curriculum.lessons[index], hint: hint))
        }

        while queues.contains(where: { !$0.isEmpty }) {
            var round: [KnownBad] = []
            for index in queues.indices where !queues[index].isEmpty {
                let answer = queues[index].removeFirst()
                let folder = staging.appendingPathComponent(answer.lesson.tag)
                let (applied, applyOutput) = try runPatch(answer.patch, in: folder, reverse: false)
                guard applied else {
                    tally.record(false, "\(answer.name): the patch no longer applies to Solutions/\(answer.lesson.tag) (update it)", detail: applyOutput)
                    try restore(answer.lesson.tag, workspace: workspace, staging: staging)
                    continue
                }
                touchSources(folder)
                round.append(answer)
            }
            guard !round.isEmpty else { continue }
            let built = try grader.build(for: round.map(\.lesson)) == nil
            let results = built ? grader.grade(round.map(\.lesson), bundle: try grader.testBundle) : []
            for answer in round {
                _ = try runPatch(answer.patch, in: staging.appendingPathComponent(answer.lesson.tag), reverse: true)
            }
            var alone: [KnownBad] = []
            for (index, answer) in round.enumerated() {
                guard built else { alone.append(answer); continue }
                let failing = results[index].checks.filter { [.failed, .crashed, .timedOut].contains($0.verdict) }
                if failing.contains(where: { $0.messages.contains { $0.contains(answer.marker) } }) {
                    tally.record(true, "\(answer.name): rejected by \(failing.count) check(s) with hint [\(answer.hint)]")
                } else {
                    alone.append(answer)
                }
            }
            for answer in alone { try checkAlone(answer, grader: grader, staging: staging, &tally) }
        }
    }

    /// One known-bad answer on its own: applied, built, graded; once more after a forced
    /// rebuild if the hint was missing. (The build step already forgets stale objects; the
    /// retry is a second line of defence against a stale build, and is always said.) A grader
    /// that really misses the mistake misses it both times.
    private static func checkAlone(_ answer: KnownBad, grader: Grader, staging: URL, _ tally: inout Tally) throws {
        let folder = staging.appendingPathComponent(answer.lesson.tag)
        let (applied, applyOutput) = try runPatch(answer.patch, in: folder, reverse: false)
        guard applied else {
            tally.record(false, "\(answer.name): the patch no longer applies to Solutions/\(answer.lesson.tag) (update it)", detail: applyOutput)
            return
        }
        defer { _ = try? runPatch(answer.patch, in: folder, reverse: true) }
        var attempt = 0
        var failing: [CheckResult] = []
        var hinted: [CheckResult] = []
        var firstHints: Set<String> = []
        while attempt < 2 && hinted.isEmpty {
            attempt += 1
            touchSources(folder)
            if let errors = try grader.build(for: [answer.lesson]) {
                tally.record(false, "\(answer.name): the wrong answer does not compile", detail: errors)
                return
            }
            let result = try grader.grade(answer.lesson, bundle: grader.testBundle)
            failing = result.checks.filter { check in [.failed, .crashed, .timedOut].contains(check.verdict) }
            hinted = failing.filter { check in check.messages.contains { $0.contains(answer.marker) } }
            if attempt == 1 { firstHints = Set(failing.flatMap { $0.messages }.flatMap(hintIDs)) }
        }
        if attempt == 2 && !hinted.isEmpty {
            print("note  \(answer.name): graded alone, the first grading gave hints [\(firstHints.sorted().joined(separator: ", "))]; after a forced rebuild it gave [\(answer.hint)]")
        }
        if failing.isEmpty {
            tally.record(false, "\(answer.name): the graders PASSED a wrong answer (expected hint [\(answer.hint)])")
        } else if hinted.isEmpty {
            let given = Set(failing.flatMap { $0.messages }.flatMap(hintIDs))
            tally.record(false, "\(answer.name): rejected, but without hint [\(answer.hint)]", detail: "hints given: " + (given.isEmpty ? "none" : given.sorted().joined(separator: ", ")))
        } else {
            tally.record(true, "\(answer.name): rejected by \(failing.count) check(s) with hint [\(answer.hint)]")
        }
    }

    /// Marks every source in `folder` as changed now, so the next build cannot reuse a build
    /// of the previous variant.
    private static func touchSources(_ folder: URL) {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for file in files where file.hasSuffix(".swift") {
            try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: folder.appendingPathComponent(file).path)
        }
    }

    /// The hint ids a failure message names: "hint [byte-order]: ..." gives "byte-order".
    private static func hintIDs(_ message: String) -> [String] {
        message.components(separatedBy: "hint [").dropFirst().compactMap { piece in
            piece.split(separator: "]").first.map(String.init)
        }
    }

    private static func runPatch(_ patch: URL, in folder: URL, reverse: Bool) throws -> (Bool, String) {
        let arguments = ["patch", "--quiet", "--forward", "-p1", "-d", folder.path, "-i", patch.path] + (reverse ? ["--reverse"] : [])
        let (ending, output) = try ChildProcess.run(URL(fileURLWithPath: "/usr/bin/env"), arguments, seconds: 30)
        return (ending == .exited(0), output)
    }

    private static func restore(_ lessonTag: String, workspace: Workspace, staging: URL) throws {
        let target = staging.appendingPathComponent(lessonTag)
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: workspace.file("Solutions/\(lessonTag)"), to: target)
    }
}
