import Foundation

/// The lessons of this edition: what the progress table, the demos and (later) the
/// `workbook` command know about each one.
public struct LessonInfo: Sendable {
    public let number: Int
    public let title: String
    /// The file the learner edits, relative to the package.
    public let exercise: String
    /// `swift run <demo>`.
    public let demo: String
    /// The lesson's text, relative to the package.
    public let prose: String
    /// The XCTest class that grades it, in the Graders test target.
    public let grader: String

    /// "Lesson01": the module name, the folder in Exercises/, and the start of the grader's
    /// class name (so `swift test --filter Lesson01` grades this lesson alone).
    public var tag: String { number < 10 ? "Lesson0\(number)" : "Lesson\(number)" }

    /// The number as the first column of a table: "1  " and "10 " take the same width, so
    /// that the titles after them line up.
    public var numberColumn: String { "\(number)".padding(toLength: 3, withPad: " ", startingAt: 0) }
}

public enum Curriculum {
    public static let lessons: [LessonInfo] = [
        LessonInfo(number: 1, title: "create", exercise: "Exercises/Lesson01/CreateSocket.swift", demo: "lesson01-create", prose: "Lessons/01-create.md", grader: "Lesson01CreateGrader"),
        LessonInfo(number: 2, title: "bind / listen", exercise: "Exercises/Lesson02/Listener.swift", demo: "lesson02-server", prose: "Lessons/02-bind-listen.md", grader: "Lesson02ListenGrader"),
        LessonInfo(number: 3, title: "connect / send", exercise: "Exercises/Lesson03/Client.swift", demo: "lesson03-client", prose: "Lessons/03-connect-send.md", grader: "Lesson03ConnectGrader"),
        LessonInfo(number: 4, title: "recv / close", exercise: "Exercises/Lesson04/Receive.swift", demo: "lesson04-echo", prose: "Lessons/04-recv-close.md", grader: "Lesson04ReceiveGrader"),
        LessonInfo(number: 5, title: "UDP", exercise: "Exercises/Lesson05/Datagrams.swift", demo: "lesson05-udp", prose: "Lessons/05-udp.md", grader: "Lesson05UDPGrader"),
        LessonInfo(number: 6, title: "socket options", exercise: "Exercises/Lesson06/Options.swift", demo: "lesson06-options", prose: "Lessons/06-options.md", grader: "Lesson06OptionsGrader"),
        LessonInfo(number: 7, title: "many clients", exercise: "Exercises/Lesson07/ManyClients.swift", demo: "lesson07-server", prose: "Lessons/07-many-clients.md", grader: "Lesson07ManyClientsGrader"),
        LessonInfo(number: 8, title: "chat", exercise: "Exercises/Lesson08/Chat.swift", demo: "lesson08-chat", prose: "Lessons/08-chat.md", grader: "Lesson08ChatGrader"),
        LessonInfo(number: 9, title: "names", exercise: "Exercises/Lesson09/Names.swift", demo: "lesson09-names", prose: "Lessons/09-names.md", grader: "Lesson09NamesGrader"),
        LessonInfo(number: 10, title: "Unix sockets", exercise: "Exercises/Lesson10/UnixSockets.swift", demo: "lesson10-unix", prose: "Lessons/10-unix.md", grader: "Lesson10UnixGrader"),
    ]

    /// Lesson `number`, if this edition has it.
    public static func lesson(_ number: Int) -> LessonInfo? {
        lessons.first { $0.number == number }
    }

    /// The lesson a grader class belongs to, from its name ("Lesson02ListenGrader" is 2).
    public static func lesson(forTestNamed name: String) -> LessonInfo? {
        lessons.first { name.hasPrefix($0.tag) || name.contains(".\($0.tag)") }
    }
}
