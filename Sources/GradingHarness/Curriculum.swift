/// The lessons of this edition: what the progress table, the demos and (later) the
/// `workbook` command know about each one.
public struct LessonInfo: Sendable {
    public let number: Int
    public let title: String
    /// The file the learner edits, relative to the package.
    public let exercise: String
    /// `swift run <demo>`.
    public let demo: String

    /// "Lesson01": the module name, the folder in Exercises/, and the start of the grader's
    /// class name (so `swift test --filter Lesson01` grades this lesson alone).
    public var tag: String { number < 10 ? "Lesson0\(number)" : "Lesson\(number)" }
}

public enum Curriculum {
    public static let lessons: [LessonInfo] = [
        LessonInfo(number: 1, title: "create", exercise: "Exercises/Lesson01/CreateSocket.swift", demo: "lesson01-create"),
        LessonInfo(number: 2, title: "bind / listen", exercise: "Exercises/Lesson02/Listener.swift", demo: "lesson02-server"),
        LessonInfo(number: 3, title: "connect / send", exercise: "Exercises/Lesson03/Client.swift", demo: "lesson03-client"),
        LessonInfo(number: 4, title: "recv / close", exercise: "Exercises/Lesson04/Receive.swift", demo: "lesson04-echo"),
        LessonInfo(number: 5, title: "UDP", exercise: "Exercises/Lesson05/Datagrams.swift", demo: "lesson05-udp"),
        LessonInfo(number: 6, title: "socket options", exercise: "Exercises/Lesson06/Options.swift", demo: "lesson06-options"),
    ]

    /// The lesson a grader class belongs to, from its name ("Lesson02ListenGrader" is 2).
    public static func lesson(forTestNamed name: String) -> LessonInfo? {
        lessons.first { name.hasPrefix($0.tag) || name.contains(".\($0.tag)") }
    }
}
