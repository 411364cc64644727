import Foundation
import GradingHarness

/// Runs one test of this test bundle in a child process: how a check runs what could kill or
/// change the process that runs it (a SIGPIPE, a setuid), without a second build. The child
/// is told what to do through `variable` in its environment, and prints one line starting
/// with "report: " that the parent reads.
enum BundleChild {
    static let marker = "report: "

    /// Runs `test` ("Graders.Class/testMethod") with `variable` set to `scenario`, waiting at
    /// most `seconds`. Returns how it ended, its report line (without the marker; empty when
    /// there is none) and everything it printed.
    static func start(_ test: String, variable: String, scenario: [String], seconds: Double) throws -> (ending: ChildProcess.Ending, report: String, output: String) {
        #if canImport(Darwin)
        // macOS: the bundle is loaded by xctest (written from Apple's documentation, untested here).
        let bundle = Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }!.bundlePath
        let (program, arguments) = (URL(fileURLWithPath: "/usr/bin/xcrun"), ["xctest", "-XCTest", test, bundle])
        #else
        let (program, arguments) = (URL(fileURLWithPath: CommandLine.arguments[0]), [test])
        #endif
        // WORKBOOK_RESULTS unset: the child's test must not appear among the parent's results.
        let environment: [String: String?] = [variable: scenario.joined(separator: " "), "WORKBOOK_RESULTS": nil]
        let (ending, output) = try ChildProcess.run(program, arguments, environment: environment, seconds: seconds)
        let report = output.split(separator: "\n").first { $0.hasPrefix(marker) }.map { String($0.dropFirst(marker.count)) } ?? ""
        return (ending, report, output)
    }
}
