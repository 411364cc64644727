/// What an exercise stub throws until the learner writes the function.
///
/// Graders report it as "not started" (a skip) rather than a failure, and the demos print
/// its message. It names the file to open, worked out from where it was thrown:
///
///     public func openSocket(...) throws -> Int32 {
///         throw NotStarted()
///     }
public struct NotStarted: Error, Hashable, Sendable, CustomStringConvertible {
    /// The lesson number, from the module name ("Lesson02" is lesson 2).
    public let lesson: Int
    /// The file to open, relative to the package: "Exercises/Lesson02/Listener.swift".
    public let file: String
    /// The function that is still a stub.
    public let function: String

    public init(fileID: String = #fileID, function: String = #function) {
        // #fileID is "Module/File.swift", and each lesson's module is named LessonNN
        // after its folder in Exercises/.
        let module = fileID.split(separator: "/").first.map(String.init) ?? ""
        self.lesson = Int(module.drop { !$0.isNumber }) ?? 0
        self.file = "Exercises/\(fileID)"
        self.function = function
    }

    /// "Lesson 2 not started: open Exercises/Lesson02/Listener.swift (makeListener(host:port:backlog:) is still a stub)"
    public var description: String {
        "Lesson \(lesson) not started: open \(file) (\(function) is still a stub)"
    }
}
