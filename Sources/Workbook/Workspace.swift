import Foundation
import GradingHarness
import Localization

/// Something the person asked for cannot be done: one line on stderr, and an exit status.
struct WorkbookError: Error, CustomStringConvertible {
    let description: String
    /// 2 for a wrong command line, 1 for everything else.
    let status: Int32

    init(_ description: String, status: Int32 = 1) {
        self.description = description
        self.status = status
    }

    static func usage(_ description: String) -> WorkbookError { WorkbookError(description, status: 2) }
}

/// The workbook's folder and the files in it that the commands read and write.
struct Workspace {
    let root: URL
    /// The `swift` program on PATH.
    let swift: URL

    /// Finds the package (this folder or one above it) and the Swift toolchain.
    static func find() throws -> Workspace {
        var folder = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        while true {
            let manifest = folder.appendingPathComponent("Package.swift")
            if let text = try? String(contentsOf: manifest, encoding: .utf8), text.contains("name: \"SocketWorkbook\"") {
                return Workspace(root: folder, swift: try findSwift())
            }
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path {
                throw WorkbookError("not inside the Socket Workbook: run this from the folder that holds its Package.swift")
            }
            folder = parent
        }
    }

    private static func findSwift() throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for folder in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent("swift")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw WorkbookError("no Swift toolchain on PATH: install Swift 6 (swift.org/install), then open a new terminal and try again")
    }

    func file(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    /// Which answers the lessons are built from, as Package.swift decides it.
    var answers: String {
        let environment = ProcessInfo.processInfo.environment
        if let folder = environment["WORKBOOK_ANSWERS"], !folder.isEmpty { return folder }
        return environment["WORKBOOK_SOLUTIONS"] == "1" ? "Solutions" : "Exercises"
    }

    /// The untouched stub of a lesson's exercise, kept for `workbook reset`.
    func pristine(_ lesson: LessonInfo) -> URL {
        file(lesson.exercise.replacingOccurrences(of: "Exercises/", with: "Exercises/.pristine/"))
    }

    func solution(_ lesson: LessonInfo) -> URL {
        file(lesson.exercise.replacingOccurrences(of: "Exercises/", with: "Solutions/"))
    }

    func hints(_ lesson: LessonInfo) -> URL {
        file(lesson.prose.replacingOccurrences(of: "Lessons/", with: "Lessons/Hints/"))
    }

    /// The lesson's text for the reader (`Language.current`): "Lessons/zh-Hans/01-create.md"
    /// in 简体中文 once that page exists, "Lessons/01-create.md" otherwise. Relative to the package.
    func prose(for lesson: LessonInfo) -> String {
        let translated = Self.translated(lesson.prose, folder: "Lessons/")
        return Language.current == .simplifiedChinese && exists(translated) ? translated : lesson.prose
    }

    /// The hints for the reader: the 简体中文 page once it exists, the English one otherwise.
    func hints(for lesson: LessonInfo) -> URL {
        let english = lesson.prose.replacingOccurrences(of: "Lessons/", with: "Lessons/Hints/")
        let translated = Self.translated(english, folder: "Lessons/Hints/")
        return file(Language.current == .simplifiedChinese && exists(translated) ? translated : english)
    }

    /// "Lessons/01-create.md" -> "Lessons/zh-Hans/01-create.md": where the Chinese edition keeps a page.
    static func translated(_ english: String, folder: String) -> String {
        folder + "zh-Hans/" + english.dropFirst(folder.count)
    }

    private func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: file(relative).path) }

    /// The workbook's own notes (hints given, backups): ignored by git.
    var stateFolder: URL { file(".workbook") }

    /// Runs `swift` with `arguments` in the package folder.
    func runSwift(_ arguments: [String], environment: [String: String?] = [:], seconds: Double = 900) throws -> (ending: ChildProcess.Ending, output: String) {
        try ChildProcess.run(swift, arguments, environment: environment, directory: root, seconds: seconds)
    }
}

/// Colour and weight for a terminal; plain text when the output is not one, or when
/// NO_COLOR is set (no-color.org).
enum Style {
    static let enabled: Bool = {
        let environment = ProcessInfo.processInfo.environment
        return isatty(STDOUT_FILENO) == 1 && environment["NO_COLOR"] == nil && environment["TERM"] != "dumb"
    }()

    static func green(_ text: String) -> String { paint(text, "32") }
    static func red(_ text: String) -> String { paint(text, "31") }
    static func yellow(_ text: String) -> String { paint(text, "33") }
    static func bold(_ text: String) -> String { paint(text, "1") }
    static func dim(_ text: String) -> String { paint(text, "2") }

    private static func paint(_ text: String, _ code: String) -> String {
        enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    /// A lesson state, coloured: done green, failing red, the rest yellow.
    static func state(_ text: String, _ state: LessonState?) -> String {
        switch state {
        case .done: return green(text)
        case .failing, nil: return red(text)
        default: return yellow(text)
        }
    }
}
