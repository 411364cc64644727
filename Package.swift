// swift-tools-version:6.0
import PackageDescription

// Which answers the lesson modules are built from:
//   Exercises/  the learner's own work (the default)
//   Solutions/  the reference answers, with WORKBOOK_SOLUTIONS=1
//   any folder  with WORKBOOK_ANSWERS=<folder> (the known-bad check stages wrong answers this way)
// SwiftPM evaluates this manifest again whenever these variables change.
let environment = Context.environment
let answers: String = {
    if let folder = environment["WORKBOOK_ANSWERS"], !folder.isEmpty { return folder }
    return environment["WORKBOOK_SOLUTIONS"] == "1" ? "Solutions" : "Exercises"
}()

/// One module per lesson, so that a learner's edit recompiles one small module.
let lessons = ["Lesson01", "Lesson02", "Lesson03", "Lesson04", "Lesson05", "Lesson06", "Lesson07", "Lesson08", "Lesson09", "Lesson10"]

/// The demo programs: `swift run <name>`. Each one runs on the learner's own answers:
/// its own lesson's, and for the later demos, the earlier lessons' too.
let demos: [(name: String, lessons: [String])] = [
    ("lesson01-create", ["Lesson01"]),
    ("lesson02-server", ["Lesson02"]),
    ("lesson03-client", ["Lesson03"]),
    ("lesson04-echo", ["Lesson02", "Lesson03", "Lesson04"]),
    ("lesson05-udp", ["Lesson05"]),
    ("lesson06-options", ["Lesson06"]),
    ("lesson07-server", ["Lesson02", "Lesson04", "Lesson07"]),
    ("lesson07-load", []),  // a client of any echo server: it runs on no lesson's code
    ("lesson08-chat", ["Lesson02", "Lesson03", "Lesson08"]),
    ("lesson09-names", ["Lesson09"]),
    ("lesson10-unix", ["Lesson02", "Lesson03", "Lesson04", "Lesson09", "Lesson10"]),
]

let package = Package(
    name: "SocketWorkbook",
    targets: [
        // The support library learners read as a model: platform differences, errors, addresses.
        .target(name: "SocketKit"),
        // Which language the workbook speaks (English or 简体中文), texts in both, and terminal
        // column widths for Chinese text.
        .target(name: "Localization"),
        // What the graders run against the learner's code: peers, deadlines, descriptor census, reports.
        .target(name: "GradingHarness", dependencies: ["SocketKit", "Localization"]),
        // Flag parsing and error reporting shared by the demo programs.
        .target(name: "DemoSupport", dependencies: ["SocketKit", "Localization"]),
        // The `workbook` command: progress, check, hint, watch, reset, doctor, report, verify.
        .executableTarget(name: "workbook", dependencies: ["SocketKit", "GradingHarness", "Localization"], path: "Sources/Workbook"),
        // Runs a piece of learner code in a child process, for checks that may kill it (SIGPIPE).
        .executableTarget(name: "grader-child", dependencies: ["SocketKit"], path: "Sources/GraderChild"),
        // One C call the graders need and Swift does not import: malloc's bytes in use (lesson 9).
        .target(name: "MallocCount"),
        .testTarget(
            name: "Graders",
            dependencies: ["SocketKit", "GradingHarness", "MallocCount"] + lessons.map { .target(name: $0) },
            exclude: ["README.md"]),  // how a check earns trust: for the people who write graders
        .testTarget(name: "SupportTests", dependencies: ["SocketKit", "GradingHarness", "Localization"]),
        // The learner's scratch file (`swift run playground`): never graded, never reset.
        .executableTarget(
            name: "playground", dependencies: ["SocketKit"] + lessons.map { .target(name: $0) },
            path: "Exercises/Playground"),
    ]
    + lessons.map { .target(name: $0, dependencies: ["SocketKit"], path: "\(answers)/\($0)") }
    + demos.map {
        .executableTarget(
            name: $0.name,
            dependencies: ["SocketKit", "DemoSupport"] + $0.lessons.map { .target(name: $0) },
            path: "Sources/Demos/\($0.name)")
    }
)
