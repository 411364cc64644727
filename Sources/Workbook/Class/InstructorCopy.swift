import Foundation
import GradingHarness

/// The instructor's own workbook, as class grading compares submissions and reports with it:
/// the fingerprints of what grades (graders, harness, manifest), the untouched stubs, and the
/// reference answers.
struct InstructorCopy {
    let workspace: Workspace
    /// Every file under Package.swift, Sources/ and Tests/, by path.
    let gradingFiles: [String: Data]
    let fingerprints: Fingerprints

    init(_ workspace: Workspace) {
        self.workspace = workspace
        gradingFiles = Submission.gradingFiles(in: workspace.root)
        fingerprints = Fingerprints(gradingFiles)
    }

    /// The three parts a report's fingerprints name, each a hash of its files' hashes.
    struct Fingerprints: Codable, Equatable {
        /// Tests/: the graders and their support code.
        let graders: String
        /// Sources/GradingHarness and Sources/SocketKit: what the graders run on.
        let harness: String
        /// Package.swift: which files are built, and how.
        let manifest: String

        /// All three in one: what a class roster records.
        var combined: String { SHA256.hex([graders, harness, manifest].joined(separator: "\n")) }

        /// Each part: the SHA-256 of its files' paths and SHA-256s, in order of path.
        init(_ files: [String: Data]) {
            func hash(_ prefixes: [String]) -> String {
                let lines = files.keys.sorted()
                    .filter { path in prefixes.contains { path == $0 || path.hasPrefix($0 + "/") } }
                    .map { path -> String in
                        var hash = SHA256()
                        hash.update(files[path]!)
                        return "\(path) \(hash.hex())"
                    }
                return SHA256.hex(lines.joined(separator: "\n"))
            }
            graders = hash(["Tests"])
            harness = hash(["Sources/GradingHarness", "Sources/SocketKit"])
            manifest = hash(["Package.swift"])
        }
    }

    /// The submission's grading files that differ from these: changed, or not here at all.
    /// (A file the submission left out is not a change: a learner may hand in less.)
    func changedFiles(_ submission: Submission) -> [String] {
        submission.gradingFiles.keys.sorted().filter { gradingFiles[$0] != submission.gradingFiles[$0] }
    }

    /// The untouched stub of a lesson: its files, by name.
    func stub(_ lesson: LessonInfo) -> [String: Data] {
        files(in: workspace.file("Exercises/.pristine/\(lesson.tag)"))
    }

    /// The reference answer of a lesson: its files, by name.
    func reference(_ lesson: LessonInfo) -> [String: Data] {
        files(in: workspace.file("Solutions/\(lesson.tag)"))
    }

    private func files(in folder: URL) -> [String: Data] {
        var found: [String: Data] = [:]
        for relative in Submission.walk(folder) where relative.hasSuffix(".swift") {
            found[relative] = FileManager.default.contents(atPath: folder.appendingPathComponent(relative).path)
        }
        return found
    }
}

/// An answer with its comments and whitespace taken out, hashed: two learners who handed in
/// the same code, reformatted or re-commented, get the same value.
enum NormalizedAnswer {
    static func hash(_ files: [String: Data]) -> String {
        var hash = SHA256()
        for name in files.keys.sorted() {
            hash.update(strip(String(decoding: files[name]!, as: UTF8.self)))
            hash.update([0])
        }
        return hash.hex()
    }

    /// The code without comments (`//` to the end of a line, `/* */` nested as Swift nests
    /// them) and without any whitespace. Text inside string literals is kept, comment
    /// markers included.
    static func strip(_ source: String) -> String {
        let characters = Array(source)
        var kept: [Character] = []
        var index = 0
        var depth = 0  // inside /* */, how deep
        var inString = false
        while index < characters.count {
            let character = characters[index]
            let next: Character? = index + 1 < characters.count ? characters[index + 1] : nil
            if depth > 0 {
                if character == "*", next == "/" { depth -= 1; index += 2; continue }
                if character == "/", next == "*" { depth += 1; index += 2; continue }
                index += 1
                continue
            }
            if inString {
                kept.append(character)
                if character == "\\", let next { kept.append(next); index += 2; continue }
                if character == "\"" { inString = false }
                index += 1
                continue
            }
            if character == "\"" { inString = true; kept.append(character); index += 1; continue }
            if character == "/", next == "/" {
                while index < characters.count, !characters[index].isNewline { index += 1 }
                continue
            }
            if character == "/", next == "*" { depth = 1; index += 2; continue }
            if !character.isWhitespace { kept.append(character) }
            index += 1
        }
        return String(kept)
    }
}
