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

    public init(_ check: String) {
        self.check = check
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
        let before = DescriptorCensus.take()
        let outcome: Swift.Result<Result, any Error>
        do {
            outcome = .success(try Deadline.run(function, seconds: seconds, unblock: unblock, body))
        } catch let notStarted as NotStarted {
            throw notStarted
        } catch let blocked as CallBlocked {
            // Unblocking makes the peers act (they read end-of-file, answer, close): give
            // them a moment, so the transcript shows what that call led to.
            Thread.sleep(forTimeInterval: 0.2)
            throw fail(
                expected: "\(function) to return within \(Self.seconds(blocked.seconds))",
                actual: "it was still blocked after \(Self.seconds(blocked.seconds)); the harness unblocked it and moved on",
                hint: blockedHint)
        } catch {
            outcome = .failure(error)
        }
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
        return outcome
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}
