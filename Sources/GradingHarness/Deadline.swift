import Foundation

/// A learner's call that had not returned when its time was up.
public struct CallBlocked: Error, Sendable {
    public let call: String
    public let seconds: Double
}

/// Runs learner code with a time limit, so a grader never hangs.
///
/// The call runs on a thread of its own. If it has not returned after `seconds`, the
/// harness runs `unblock` (typically `shutdown` of the harness's end of the connection, or
/// of the listener the call waits on), gives the thread a moment to come back, and throws
/// `CallBlocked`. A call that loops without ever making a system call cannot be stopped:
/// its thread is left behind, and the check fails all the same.
public enum Deadline {
    /// How long a learner's call may block where it should not (design.md: about 2 s).
    public static let standard: Double = 2.0

    public static func run<Result: Sendable>(
        _ call: String,
        seconds: Double = standard,
        unblock: @escaping @Sendable () -> Void = {},
        _ body: @escaping @Sendable () throws -> Result
    ) throws -> Result {
        let outcome = Outcome<Result>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            outcome.set(Swift.Result { try body() })
            done.signal()
        }
        thread.name = "learner: \(call)"
        thread.start()
        if done.wait(timeout: .now() + seconds) == .timedOut {
            unblock()
            _ = done.wait(timeout: .now() + 1.0)  // let it unwind and close what it opened
            throw CallBlocked(call: call, seconds: seconds)
        }
        return try outcome.get()!.get()
    }
}

/// The result handed from the learner's thread back to the grader.
private final class Outcome<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<Value, any Error>?
    func set(_ value: Result<Value, any Error>) { lock.withLock { self.value = value } }
    func get() -> Result<Value, any Error>? { lock.withLock { value } }
}
