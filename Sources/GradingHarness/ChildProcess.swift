import Foundation
import SocketKit

/// Runs a program as a child, bounded in time, for checks whose failure would kill the test
/// process itself: a learner's send that dies of SIGPIPE takes only the child down.
public enum ChildProcess {
    public enum Ending: Equatable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case killedBy(signal: Int32)
        case timedOut

        public var description: String {
            switch self {
            case .exited(let status): return "exited with status \(status)"
            case .killedBy(let signal):
                // A shell reports death by signal N as exit status 128 + N: SIGPIPE is 141.
                return "was killed by signal \(signal)\(signal == SIGPIPE ? " (SIGPIPE)" : "") - exit status \(128 + signal) in a shell"
            case .timedOut: return "did not finish in time and was killed"
            }
        }
    }

    /// Runs any program with `arguments`, waiting at most `seconds` (then it is killed).
    /// `environment` adds to (or, with nil values, removes from) this process's own.
    public static func run(
        _ executable: URL, _ arguments: [String], environment: [String: String?] = [:], directory: URL? = nil, seconds: Double
    ) throws -> (ending: Ending, output: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty {
            var merged = ProcessInfo.processInfo.environment
            for (key, value) in environment { merged[key] = value }
            process.environment = merged
        }
        if let directory { process.currentDirectoryURL = directory }
        // Output goes to a file, not a pipe: a chatty child can never block on a full pipe.
        let capture = Cleanup.shared.temporaryFile("workbook-child-", ".log")
        _ = FileManager.default.createFile(atPath: capture.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: capture) }
        let sink = try FileHandle(forWritingTo: capture)
        defer { try? sink.close() }
        process.standardOutput = sink
        process.standardError = sink
        process.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        // Registered as it starts, so that an interrupted workbook stops it (Cleanup.sweep).
        let pid = try Cleanup.shared.launch {
            // The child inherits this thread's signal mask, and a Dispatch worker thread blocks
        // most signals: start it from an empty mask, as a shell would.
        var none = sigset_t(), previous = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
            return process.processIdentifier
        }
        defer { Cleanup.shared.ended(pid) }
        var ending: Ending
        if done.wait(timeout: .now() + seconds) == .timedOut {
            process.terminate()
            if done.wait(timeout: .now() + 2) == .timedOut { kill(process.processIdentifier, SIGKILL) }
            _ = done.wait(timeout: .now() + 2)
            ending = .timedOut
        } else {
            ending = process.terminationReason == .uncaughtSignal
                ? .killedBy(signal: process.terminationStatus) : .exited(process.terminationStatus)
        }
        let output = String(decoding: FileManager.default.contents(atPath: capture.path) ?? Data(), as: UTF8.self)
        return (ending, output)
    }
}
