import Foundation
import GradingHarness

/// One learner's hand-in, opened and read: its answers, and anything that stops it from
/// being graded or that an instructor should look at.
///
/// Nothing of the submission runs here. Archives are listed before they are unpacked, and
/// refused whole if a name in them leads outside them or is a link; only regular files are
/// read, and links are never followed. The answers are copied out; the submission's own
/// Package.swift, Sources/ and Tests/ are only hashed, to be compared with the instructor's.
struct Submission {
    /// The folder or archive name, without extension: "alice" for alice.zip.
    let id: String
    /// The path as it was given.
    let source: String
    /// Why it cannot be graded; nil when it can.
    var problem: String?
    var flags: [ClassRoster.Flag] = []
    /// Per lesson tag ("Lesson03"): the answer's files, by path inside the lesson folder.
    /// A lesson the submission does not have is missing here (it is graded as the stub).
    var answers: [String: [String: Data]] = [:]
    /// Per file under Package.swift, Sources/ and Tests/: its contents (a link: its target's
    /// name), to compare with the instructor's.
    var gradingFiles: [String: Data] = [:]

    /// Longest an archive may take to list or unpack, or a repository to clone.
    static let toolSeconds: Double = 120
    /// An answer larger than this is not an answer: left out, and flagged.
    static let largestAnswerFile = 1 << 20
    /// Most an archive may unpack to, in bytes and in entries. A copy of the workbook is a
    /// few megabytes, or a few hundred with its .build folder; a small archive that claims
    /// gigabytes (a "zip bomb") would fill the instructor's disk, so it is refused unopened.
    static let largestUnpackedBytes = 1 << 30
    static let mostUnpackedEntries = 100_000

    /// The id a path is known by: its last part, without .zip, .tar.gz, .tgz or .git.
    static func id(of path: String) -> String {
        var name = URL(fileURLWithPath: path).lastPathComponent
        for suffix in [".tar.gz", ".tgz", ".zip", ".git"] where name.hasSuffix(suffix) && name.count > suffix.count {
            name = String(name.dropLast(suffix.count))
            break
        }
        return name
    }

    /// Opens `path` (a folder, a git repository, a .zip or a .tar.gz), unpacking into
    /// `scratch` (a private folder of its own). Never throws: what goes wrong is `problem`.
    static func open(_ path: String, id: String, scratch: URL) -> Submission {
        var submission = Submission(id: id, source: path)
        do {
            let root = try submission.unpack(path, into: scratch)
            guard let workbook = findWorkbook(in: root) else {
                submission.problem = "not a copy of the workbook: no Exercises/ folder in it"
                return submission
            }
            submission.readAnswers(workbook)
            submission.gradingFiles = gradingFiles(in: workbook)
        } catch let error as WorkbookError {
            submission.problem = error.description
        } catch {
            submission.problem = FileProblem.oneLine(error)
        }
        return submission
    }

    // MARK: Unpacking

    /// The folder to read: `path` itself, or where it was unpacked or cloned to.
    private mutating func unpack(_ path: String, into scratch: URL) throws -> URL {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw WorkbookError("not there: \(FileProblem.words(errno))") }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFLNK { throw WorkbookError("a link, not a folder or an archive: not followed") }
        if kind == S_IFDIR {
            let url = URL(fileURLWithPath: path)
            // A bare repository (what a git server keeps) has no files to read: clone it.
            if !exists(url.appendingPathComponent("Exercises")), exists(url.appendingPathComponent("HEAD")),
               exists(url.appendingPathComponent("objects")) {
                return try clone(path, into: scratch)
            }
            return url
        }
        guard kind == S_IFREG else { throw WorkbookError("not a folder, a .zip or a .tar.gz") }
        if path.hasSuffix(".zip") { return try unzip(path, into: scratch) }
        if path.hasSuffix(".tar.gz") || path.hasSuffix(".tgz") { return try untar(path, into: scratch) }
        throw WorkbookError("not a folder, a .zip or a .tar.gz")
    }

    private func exists(_ url: URL) -> Bool { FileManager.default.fileExists(atPath: url.path) }

    /// A .zip, listed first: refused whole if any name in it is absolute, climbs out with
    /// "..", or is a link (a link could lead a later file out of the folder).
    private mutating func unzip(_ path: String, into scratch: URL) throws -> URL {
        // zipinfo's one-line form: the type and permissions first ("lrwxrwxrwx" for a link),
        // the name last. -Z1 gives the bare names, which may contain spaces.
        let (listEnding, long) = try tool("/usr/bin/env", ["unzip", "-Z", "-l", path])
        let (namesEnding, names) = try tool("/usr/bin/env", ["unzip", "-Z1", path])
        guard listEnding == .exited(0), namesEnding == .exited(0) else {
            throw WorkbookError("the archive does not unpack: \(oneLine(names))")
        }
        try refuseEscapes(names.split(separator: "\n").map(String.init))
        // zipinfo's last line: "N files, B bytes uncompressed, C bytes compressed: R%".
        let summary = long.split(separator: "\n").last.map { $0.split(separator: " ") } ?? []
        let bytes = summary.firstIndex(of: "bytes").flatMap { $0 > 0 ? Int(summary[$0 - 1]) : nil }
        try refuseTooLarge(bytes: bytes, entries: names.split(separator: "\n").count)
        if long.split(separator: "\n").contains(where: { $0.hasPrefix("l") }) {
            flag(.escapingPath, "the archive holds a link: not unpacked")
            throw WorkbookError("the archive holds a link (it could lead outside the archive): not unpacked")
        }
        let folder = scratch.appendingPathComponent("unpacked")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let (ending, output) = try tool("/usr/bin/env", ["unzip", "-q", "-o", path, "-d", folder.path])
        guard ending == .exited(0) else { throw WorkbookError("the archive does not unpack: \(oneLine(output))") }
        return folder
    }

    /// A .tar.gz, listed first, with the same rules as a .zip.
    private mutating func untar(_ path: String, into scratch: URL) throws -> URL {
        let (namesEnding, names) = try tool("/usr/bin/env", ["tar", "-tzf", path])
        let (longEnding, long) = try tool("/usr/bin/env", ["tar", "-tvzf", path])
        guard namesEnding == .exited(0), longEnding == .exited(0) else {
            throw WorkbookError("the archive does not unpack: \(oneLine(names))")
        }
        try refuseEscapes(names.split(separator: "\n").map(String.init))
        // tar -tv: "-rw-r--r-- owner/group SIZE date time name"; the size is the third field.
        let sizes = long.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
            .map { $0.count > 2 ? Int($0[2]) : nil }
        try refuseTooLarge(bytes: sizes.contains(nil) ? nil : sizes.reduce(0) { $0 + ($1 ?? 0) }, entries: sizes.count)
        // tar -tv: the type first ("l" a symbolic link, "h" a hard link).
        if long.split(separator: "\n").contains(where: { $0.hasPrefix("l") || $0.hasPrefix("h") }) {
            flag(.escapingPath, "the archive holds a link: not unpacked")
            throw WorkbookError("the archive holds a link (it could lead outside the archive): not unpacked")
        }
        let folder = scratch.appendingPathComponent("unpacked")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let (ending, output) = try tool("/usr/bin/env", ["tar", "-xzf", path, "-C", folder.path, "--no-same-owner", "--no-same-permissions"])
        guard ending == .exited(0) else { throw WorkbookError("the archive does not unpack: \(oneLine(output))") }
        return folder
    }

    /// Refuses an archive that would unpack to more than `largestUnpackedBytes` or
    /// `mostUnpackedEntries`, or whose size cannot be read from its listing.
    private mutating func refuseTooLarge(bytes: Int?, entries: Int) throws {
        let limit = "\(Self.largestUnpackedBytes >> 20) MB and \(Self.mostUnpackedEntries) files"
        guard let bytes else { throw WorkbookError("the archive's listing gives no sizes: not unpacked") }
        guard bytes <= Self.largestUnpackedBytes, entries <= Self.mostUnpackedEntries else {
            flag(.tooLarge, "the archive would unpack to \(bytes >> 20) MB in \(entries) files (at most \(limit)): not unpacked")
            throw WorkbookError("the archive would unpack to \(bytes >> 20) MB in \(entries) files, over the limit of \(limit): not unpacked")
        }
    }

    /// Refuses an archive with a name that is absolute or climbs out with "..".
    private mutating func refuseEscapes(_ names: [String]) throws {
        if let bad = names.first(where: { $0.hasPrefix("/") || $0.split(separator: "/").contains("..") }) {
            flag(.escapingPath, "the archive holds \(bad), a path outside it: not unpacked")
            throw WorkbookError("the archive holds \(bad), a path outside it: not unpacked")
        }
    }

    /// A bare git repository: cloned (its committed files), never run.
    private func clone(_ path: String, into scratch: URL) throws -> URL {
        let folder = scratch.appendingPathComponent("clone")
        // No hooks, no templates: nothing of the repository's own runs.
        let (ending, output) = try tool("/usr/bin/env", [
            "git", "-c", "core.hooksPath=/dev/null", "clone", "-q", "--no-local", "--template=", path, folder.path,
        ])
        guard ending == .exited(0) else { throw WorkbookError("the repository does not clone: \(oneLine(output))") }
        return folder
    }

    private func tool(_ program: String, _ arguments: [String]) throws -> (ChildProcess.Ending, String) {
        try ChildProcess.run(URL(fileURLWithPath: program), arguments, environment: ["LC_ALL": "C"], seconds: Self.toolSeconds)
    }

    /// The tool's reason, in one short line: its first line that is not the file's name,
    /// up to the end of the first sentence.
    private func oneLine(_ output: String) -> String {
        let line = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty && !$0.hasPrefix("[") } ?? "no reason given"
        return line.components(separatedBy: ".  ").first ?? line
    }

    /// The folder holding Exercises/: `root`, or its only subfolder that holds one (an archive
    /// often wraps the copy in a folder of its own).
    private static func findWorkbook(in root: URL) -> URL? {
        if isFolder(root.appendingPathComponent("Exercises")) { return root }
        let inside = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [])
            .filter { !$0.hasPrefix(".") && !$0.hasPrefix("__MACOSX") }
            .map { root.appendingPathComponent($0) }
            .filter { isFolder($0) && isFolder($0.appendingPathComponent("Exercises")) }
        return inside.count == 1 ? inside[0] : nil
    }

    /// A real folder: not a link to one.
    private static func isFolder(_ url: URL) -> Bool {
        var info = stat()
        return lstat(url.path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    // MARK: Reading

    private mutating func flag(_ kind: ClassRoster.Flag.Kind, _ reason: String) {
        let flag = ClassRoster.Flag(kind: kind, reason: reason)
        if !flags.contains(flag) { flags.append(flag) }
    }

    /// Every lesson's .swift files, regular files only. A link is flagged and left out.
    private mutating func readAnswers(_ workbook: URL) {
        for lesson in Curriculum.lessons {
            let folder = workbook.appendingPathComponent("Exercises/\(lesson.tag)")
            var info = stat()
            guard lstat(folder.path, &info) == 0 else { continue }
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                flag(.escapingPath, "Exercises/\(lesson.tag) is a link or a file, not a folder: left out")
                continue
            }
            var files: [String: Data] = [:]
            for relative in Self.walk(folder) {
                let url = folder.appendingPathComponent(relative)
                let shown = "Exercises/\(lesson.tag)/\(relative)"
                guard lstat(url.path, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFLNK:
                    flag(.escapingPath, "\(shown) is a link: not followed, left out")
                case S_IFREG where relative.hasSuffix(".swift"):
                    guard Int(info.st_size) <= Self.largestAnswerFile, let data = FileManager.default.contents(atPath: url.path) else {
                        flag(.tooLarge, "\(shown) is over 1 MB: left out")
                        continue
                    }
                    files[relative] = data
                default:
                    continue
                }
            }
            answers[lesson.tag] = files
        }
    }

    /// Every path under `folder`, relative to it, without descending into links.
    static func walk(_ folder: URL) -> [String] {
        var found: [String] = []
        var pending = [""]
        while let relative = pending.popLast() {
            let path = relative.isEmpty ? folder.path : folder.path + "/" + relative
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() {
                let child = relative.isEmpty ? name : relative + "/" + name
                var info = stat()
                guard lstat(folder.path + "/" + child, &info) == 0 else { continue }
                if (info.st_mode & S_IFMT) == S_IFDIR { pending.append(child) } else { found.append(child) }
            }
        }
        return found.sorted()
    }

    /// The files that decide how answers are graded: Package.swift, and every file under
    /// Sources/ and Tests/ (a link as the name of its target, never followed).
    static func gradingFiles(in workbook: URL) -> [String: Data] {
        var contents: [String: Data] = [:]
        var candidates = ["Package.swift"]
        for folder in ["Sources", "Tests"] {
            candidates += walk(workbook.appendingPathComponent(folder)).map { "\(folder)/\($0)" }
        }
        for relative in candidates where !relative.hasSuffix(".DS_Store") {
            let path = workbook.appendingPathComponent(relative).path
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            if (info.st_mode & S_IFMT) == S_IFLNK {
                contents[relative] = Data(("link to " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?")).utf8)
            } else if (info.st_mode & S_IFMT) == S_IFREG, let data = FileManager.default.contents(atPath: path) {
                contents[relative] = data
            }
        }
        return contents
    }
}
