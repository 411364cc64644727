import Foundation

/// How one grader test (one check) ended.
public enum CheckStatus: String, Codable, Sendable {
    case passed
    case failed
    case notStarted = "not started"
}

/// One line of the results stream that a grading run writes when `WORKBOOK_RESULTS` names a
/// file: the `workbook` command reads it instead of XCTest's console output. A "started"
/// line with no "finished" after it names the check that crashed or hung.
public struct CheckEvent: Codable, Sendable {
    public enum Kind: String, Codable, Sendable { case started, finished }

    public var kind: Kind
    /// "Lesson01CreateGrader.test1_openSocketCreatesTheKindAsked"
    public var test: String
    public var status: CheckStatus?
    /// The failure messages (a CheckFailure's text), or the not-started message.
    public var messages: [String]

    public init(kind: Kind, test: String, status: CheckStatus? = nil, messages: [String] = []) {
        self.kind = kind
        self.test = test
        self.status = status
        self.messages = messages
    }

    /// The lesson this check belongs to.
    public var lesson: LessonInfo? { Curriculum.lesson(forTestNamed: test) }

    /// "test1_openSocketCreatesTheKindAsked" -> "openSocketCreatesTheKindAsked"
    public var checkName: String {
        let method = test.split(separator: ".").last.map(String.init) ?? test
        return method.drop { $0 != "_" }.dropFirst().isEmpty ? method : String(method.drop { $0 != "_" }.dropFirst())
    }
}

/// Where a lesson stands, from its checks' results.
public enum LessonState: String, Codable, Sendable {
    case done
    case failing
    case inProgress = "in progress"
    case notStarted = "not started"
    case notRun = "not run"

    public init(_ statuses: [CheckStatus]) {
        if statuses.isEmpty {
            self = .notRun
        } else if statuses.contains(.failed) {
            self = .failing
        } else if statuses.allSatisfy({ $0 == .passed }) {
            self = .done
        } else if statuses.contains(.passed) {
            self = .inProgress
        } else {
            self = .notStarted
        }
    }
}

/// Appends `CheckEvent`s to the file named by `WORKBOOK_RESULTS`, one JSON object a line,
/// each written straight to the file (no buffer to lose if the learner's code crashes).
public final class ResultsStream: @unchecked Sendable {
    private let handle: FileHandle?
    private let lock = NSLock()

    /// The stream for this process: writes to `WORKBOOK_RESULTS` when it is set, else nowhere.
    public static let shared = ResultsStream(path: ProcessInfo.processInfo.environment["WORKBOOK_RESULTS"])

    public init(path: String?) {
        guard let path, !path.isEmpty else {
            handle = nil
            return
        }
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        handle = FileHandle(forWritingAtPath: path)
        handle?.seekToEndOfFile()
    }

    public func write(_ event: CheckEvent) {
        guard let handle, var line = try? JSONEncoder().encode(event) else { return }
        line.append(UInt8(ascii: "\n"))
        lock.withLock { handle.write(line) }
    }

    /// Reads a results file back: every event, in order (unreadable lines are skipped).
    public static func read(_ path: String) -> [CheckEvent] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONDecoder().decode(CheckEvent.self, from: Data($0)) }
    }
}
