import Foundation
import SocketKit

/// Counts the SIGPIPE signals raised while a learner's call runs, without dying of them.
///
/// The grading process ignores SIGPIPE, so a learner's `send` without MSG_NOSIGNAL (or
/// SO_NOSIGPIPE) to a connection that is gone fails quietly with EPIPE here, while the
/// learner's own program would be killed. Around such a call a check swaps the ignore for a
/// handler that only counts, then puts the ignore back. The harness's own sends never raise
/// it (they pass MSG_NOSIGNAL), so any count is the learner's. A learner's code that ignores
/// SIGPIPE itself replaces the handler: nothing is counted, rightly.
///
///     let (outcome, raised) = try SIGPIPECount.around { try probe.attempt(...) { ... } }
public enum SIGPIPECount {
    nonisolated(unsafe) static var raised: sig_atomic_t = 0

    /// Runs `body` with SIGPIPE counted instead of ignored; returns its result and the count.
    /// Not for checks that run learner calls at the same time as other checks' calls.
    public static func around<T>(_ body: () throws -> T) rethrows -> (result: T, raised: Int) {
        raised = 0
        var action = signalAction(countSIGPIPE, restart: true)
        var previous = sigaction()
        let installed = sigaction(SIGPIPE, &action, &previous) == 0
        defer { if installed { _ = sigaction(SIGPIPE, &previous, nil) } }
        let result = try body()
        return (result, Int(raised))
    }
}

private let countSIGPIPE: @convention(c) (Int32) -> Void = { _ in
    SIGPIPECount.raised &+= 1
}
