import Foundation
import SocketKit

/// One check in progress: it calls the learner's code under a deadline and a leak
/// census, records the wire, and builds the failure message.
///
///     let probe = Probe("makeListener(host:port:backlog:) binds the address it was given")
///     let fd = try probe.call("makeListener(host:port:backlog:)", returns: { [$0] }) {
///         try makeListener(host: "127.0.0.1", port: 0)
///     }
///     guard ... else { throw probe.fail(expected: "...", actual: "...", hint: .anyAddress) }
public struct Probe: Sendable {
    public let check: String
    public let transcript = Transcript()
    /// Where this check's sizes, split points and gaps come from: the run's seed (printed in
    /// every failure) mixed with the check's name.
    public let random: SeededGenerator

    public init(_ check: String) {
        self.check = check
        self.random = GradingSeed.generator(for: check)
    }

    /// A failure of this check, with the transcript so far.
    public func fail(expected: String, actual: String, hint: Hint?) -> CheckFailure {
        CheckFailure(check: check, expected: expected, actual: actual, transcript: transcript, hint: hint)
    }

    /// Calls learner code that is expected to return normally.
    ///
    /// - Parameters:
    ///   - function: how the learner knows it: "acceptConnection(on:)".
    ///   - returns: the descriptors the result hands to the caller (they are not leaks).
    ///   - unblock: what frees the call if it blocks past the deadline.
    ///   - blockedHint: the hint when it does.
    ///   - errorHint: the hint when it throws, given the error.
    ///   - leakHint: a more specific hint than `Hint.leak` for a leak, given the result and
    ///     the leaked descriptors (nil: the general one).
    /// - Throws: `NotStarted` unchanged (the grader reports "not started"), otherwise a
    ///   `CheckFailure` when it throws, blocks or leaks.
    public func call<Result: Sendable>(
        _ function: String,
        returns descriptors: (Result) -> [Int32] = { _ in [] },
        seconds: Double = Deadline.standard,
        unblock: @escaping @Sendable () -> Void = {},
        blockedHint: Hint? = nil,
        errorHint: (any Error) -> Hint? = { _ in nil },
        leakHint: (Result, [Int32]) -> Hint? = { _, _ in nil },
        _ body: @escaping @Sendable () throws -> Result
    ) throws -> Result {
        let outcome = try attempt(
            function, returns: descriptors, seconds: seconds, unblock: unblock, blockedHint: blockedHint,
            leakHint: leakHint, body)
        switch outcome {
        case .success(let value):
            return value
        case .failure(let error):
            throw fail(expected: "\(function) to succeed", actual: "it threw \(error)", hint: errorHint(error))
        }
    }

    /// Calls learner code that may throw, and hands back what it did; the grader decides
    /// whether the error was the right one. Blocking and leaks still fail the check.
    public func attempt<Result: Sendable>(
        _ function: String,
        returns descriptors: (Result) -> [Int32] = { _ in [] },
        seconds: Double = Deadline.standard,
        unblock: @escaping @Sendable () -> Void = {},
        blockedHint: Hint? = nil,
        leakHint: (Result, [Int32]) -> Hint? = { _, _ in nil },
        _ body: @escaping @Sendable () throws -> Result
    ) throws -> Swift.Result<Result, any Error> {
        try measure(
            function, returns: descriptors, seconds: seconds, unblock: unblock, blockedHint: blockedHint,
            leakHint: leakHint, body
        ).result
    }

    /// Like `attempt`, and also hands back how long the call took and the processor time its
    /// thread used: a check can ask for a prompt answer (a lower bound on time as well as an
    /// upper one) or for a wait that does not spin.
    public func measure<Result: Sendable>(
        _ function: String,
        returns descriptors: (Result) -> [Int32] = { _ in [] },
        seconds: Double = Deadline.standard,
        unblock: @escaping @Sendable () -> Void = {},
        blockedHint: Hint? = nil,
        spinningHint: Hint? = nil,
        leakHint: (Result, [Int32]) -> Hint? = { _, _ in nil },
        _ body: @escaping @Sendable () throws -> Result
    ) throws -> Deadline.Measured<Result> {
        let before = DescriptorCensus.take()
        let measured: Deadline.Measured<Result>
        do {
            measured = try Deadline.measure(function, seconds: seconds, unblock: unblock, body)
        } catch let blocked as CallBlocked {
            // Unblocking makes the peers act (they read end-of-file, answer, close): give
            // them a moment, so the transcript shows what that call led to.
            Thread.sleep(forTimeInterval: 0.2)
            throw fail(
                expected: "\(function) to return within \(Self.seconds(blocked.seconds))",
                actual: "it was \(blocked.state) after \(Self.seconds(blocked.seconds)); the harness unblocked it and moved on",
                hint: blocked.spinning ? (spinningHint ?? blockedHint) : blockedHint)
        }
        if case .failure(let error) = measured.result, error is NotStarted { throw error }
        let outcome = measured.result
        let handedBack = Set((try? outcome.get()).map(descriptors) ?? [])
        let leaked = DescriptorCensus.take().added(since: before).subtracting(handedBack)
        guard leaked.isEmpty else {
            // Three described, then a count: a loop that leaks 300 sockets must not print 300.
            let sorted = leaked.sorted()
            let what = sorted.prefix(3).map(Inspect.describe).joined(separator: "; ")
                + (sorted.count > 3 ? "; and \(sorted.count - 3) more" : "")
            let result: String
            var hint = Hint.leak
            switch outcome {
            case .success(let value):
                result = "returned"
                hint = leakHint(value, leaked.sorted()) ?? hint
            case .failure(let error):
                result = "threw \(error)"
            }
            throw fail(
                expected: "\(function) to leave no socket open except those it returns",
                actual: "it \(result) and left \(leaked.count) socket(s) open: \(what)",
                hint: hint)
        }
        return measured
    }

    /// How a returned value reads in a failure: "it returned without throwing" for a
    /// function that returns nothing, "it returned 5" otherwise.
    public static func returned<Value>(_ value: Value) -> String {
        if value is Void { return "it returned without throwing" }
        if let fd = value as? Int32 { return "it returned \(Inspect.describe(fd))" }
        return "it returned \(value)"
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}
