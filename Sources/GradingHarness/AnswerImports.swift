import Foundation

/// Which modules an answer may import: SocketKit and the toolchain's own. Anything else
/// (the graders' harness above all) would let an answer grade itself.
public enum AnswerImports {
    public static let allowed: Set<String> = [
        "SocketKit", "Foundation", "FoundationEssentials", "Dispatch", "Synchronization", "Glibc", "Darwin", "Musl",
    ]

    /// The package this harness was built from (Sources/GradingHarness/ is two levels down).
    public static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The folder a lesson's module is built from, as Package.swift chooses it.
    public static func answersFolder(of lesson: LessonInfo, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let base: String
        if let folder = environment["WORKBOOK_ANSWERS"], !folder.isEmpty {
            base = folder
        } else {
            base = environment["WORKBOOK_SOLUTIONS"] == "1" ? "Solutions" : "Exercises"
        }
        let root = base.hasPrefix("/") ? URL(fileURLWithPath: base) : packageRoot.appendingPathComponent(base)
        return root.appendingPathComponent(lesson.tag)
    }

    /// Every (file, module) in `folder`'s Swift files whose module is not allowed. Subfolders
    /// too: SwiftPM compiles every .swift file under a target's folder.
    public static func disallowed(in folder: URL) -> [(file: String, module: String)] {
        let names = (FileManager.default.subpaths(atPath: folder.path) ?? []).filter { $0.hasSuffix(".swift") }.sorted()
        return names.flatMap { name -> [(file: String, module: String)] in
            let text = (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)) ?? ""
            return modules(importedBy: text).filter { !allowed.contains($0) }.map { ("\(folder.lastPathComponent)/\(name)", $0) }
        }
    }

    /// The modules a Swift source imports: `import X`, `@testable import X`,
    /// `import struct X.Y`, `@_exported import X`, `import X.Submodule`, also after `;`.
    public static func modules(importedBy text: String) -> [String] {
        let kinds: Set<String> = ["struct", "class", "enum", "protocol", "func", "var", "let", "typealias", "actor"]
        var found: [String] = []
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let code = rawLine.components(separatedBy: "//").first ?? ""
            for statement in code.split(separator: ";") {
                var words = statement.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                while let first = words.first, first.hasPrefix("@") || ["public", "internal", "private", "fileprivate", "package"].contains(first) {
                    words.removeFirst()
                }
                guard words.first == "import", words.count >= 2 else { continue }
                var name = words[1]
                if kinds.contains(name), words.count >= 3 { name = words[2] }
                if let module = name.split(separator: ".").first { found.append(String(module)) }
            }
        }
        return found
    }
}
