import Foundation
import GradingHarness

/// One subcommand's command line, parsed by hand: positional words, `--flag value`,
/// `--flag=value` and `--switch`.
struct Arguments {
    var positional: [String] = []
    var values: [String: String] = [:]
    var switches: Set<String> = []

    /// Parses `words` for a command that takes the given flags (with a value) and switches.
    /// `--help` is handled by the caller before this.
    init(_ words: [String], flags: Set<String> = [], switches allowed: Set<String> = [], command: String) throws {
        var rest = words[...]
        while let word = rest.popFirst() {
            guard word.hasPrefix("--") else {
                positional.append(word)
                continue
            }
            var name = String(word.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            if allowed.contains(name), value == nil {
                switches.insert(name)
            } else if flags.contains(name) {
                guard let given = value ?? rest.popFirst() else { throw WorkbookError.usage("--\(name) needs a value (see: workbook \(command) --help)") }
                values[name] = given
            } else {
                throw WorkbookError.usage("unknown option --\(name) for '\(command)' (see: workbook \(command) --help)")
            }
        }
    }

    /// The lesson named by the first positional word, or nil when there is none.
    func lesson(command: String) throws -> LessonInfo? {
        guard let word = positional.first else { return nil }
        guard positional.count == 1 else { throw WorkbookError.usage("'\(command)' takes one lesson number, not \(positional.joined(separator: " "))") }
        let range = "\(Curriculum.lessons.first!.number) to \(Curriculum.lessons.last!.number)"
        guard let number = Int(word) else { throw WorkbookError.usage("'\(word)' is not a lesson number: the lessons are \(range)") }
        guard let lesson = Curriculum.lesson(number) else { throw WorkbookError.usage("there is no lesson \(number): the lessons are \(range)") }
        return lesson
    }

    /// `--seed S`: the seed the checks draw their inputs from, to replay a failure.
    func seed() throws -> UInt64? {
        guard let text = values["seed"] else { return nil }
        guard let seed = UInt64(text) else { throw WorkbookError.usage("--seed takes a whole number from 0 to \(UInt64.max), not \"\(text)\"") }
        return seed
    }

    func noPositional(command: String) throws {
        if let word = positional.first { throw WorkbookError.usage("'\(command)' takes no '\(word)' (see: workbook \(command) --help)") }
    }
}

/// Writes a line to stderr (Swift 6 will not let `fputs(..., stderr)` touch the global).
func printError(_ line: String) {
    FileHandle.standardError.write(Data("\(line)\n".utf8))
}
