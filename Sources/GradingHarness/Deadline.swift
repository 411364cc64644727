import Foundation

/// A learner's call that had not returned when its time was up.
public struct CallBlocked: Error, Sendable {
    public let call: String
    public let seconds: Double
    /// True when the call's thread was still using the processor after the deadline (a
    /// loop that never waits), false when it sat in a system call (blocked).
    public let spinning: Bool

    /// "still blocked" or "still running (spinning)": what the learner's thread was doing.
    public var state: String { spinning ? "still running (spinning, using the processor)" : "still blocked" }
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
        try measure(call, seconds: seconds, unblock: unblock, body).result.get()
    }

    /// What a call did, with the time it took and the processor time its thread used.
    public struct Measured<Value: Sendable>: Sendable {
        public let result: Swift.Result<Value, any Error>
        /// Wall-clock seconds from the call to its return.
        public let seconds: Double
        /// Processor seconds the call's thread used (CLOCK_THREAD_CPUTIME_ID): near zero for
        /// a call that waits in poll/recv/send, close to `seconds` for one that spins.
        public let cpuSeconds: Double
    }

    /// Like `run`, but hands back the call's outcome with its wall and processor time, so a
    /// check can tell a call that waited from one that spun.
    public static func measure<Result: Sendable>(
        _ call: String,
        seconds: Double = standard,
        unblock: @escaping @Sendable () -> Void = {},
        _ body: @escaping @Sendable () throws -> Result
    ) throws -> Measured<Result> {
        let outcome = Outcome<Result>()
        let done = DispatchSemaphore(value: 0)
        let started = Clock.now
        let thread = Thread {
            outcome.setActivity(ThreadActivity())
            let cpuBefore = ThreadClock.ownSeconds()
            let result = Swift.Result { try body() }
            outcome.set(result, seconds: Clock.now - started, cpu: ThreadClock.ownSeconds() - cpuBefore)
            done.signal()
        }
        thread.name = "learner: \(call)"
        thread.start()
        if done.wait(timeout: .now() + seconds) == .timedOut {
            // Spinning or waiting? Watch the thread for a moment.
            let spinning = outcome.activity?.isSpinning(over: 0.1) ?? false
            unblock()
            _ = done.wait(timeout: .now() + 1.0)  // let it unwind and close what it opened
            throw CallBlocked(call: call, seconds: seconds, spinning: spinning)
        }
        let (result, wall, cpu) = outcome.get()!
        return Measured(result: result, seconds: wall, cpuSeconds: cpu)
    }
}

/// A thread's processor-time clock, readable from another thread.
enum ThreadClock {
    /// The processor seconds a thread's clock shows (nil once the thread is gone).
    static func seconds(_ clock: clockid_t) -> Double? {
        var time = timespec()
        guard clock_gettime(clock, &time) == 0 else { return nil }
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// The calling thread's own processor seconds.
    static func ownSeconds() -> Double {
        seconds(CLOCK_THREAD_CPUTIME_ID) ?? 0
    }
}

/// The result handed from the learner's thread back to the grader.
private final class Outcome<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Result<Value, any Error>, Double, Double)?
    private var watched: ThreadActivity?
    func setActivity(_ activity: ThreadActivity) { lock.withLock { watched = activity } }
    var activity: ThreadActivity? { lock.withLock { watched } }
    func set(_ value: Result<Value, any Error>, seconds: Double, cpu: Double) { lock.withLock { self.value = (value, seconds, cpu) } }
    func get() -> (Result<Value, any Error>, Double, Double)? { lock.withLock { value } }
}
