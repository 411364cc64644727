import Foundation
import SocketKit

/// Interrupts a learner's blocking call with a signal, the way a real program's timers and
/// child processes do: the call returns -1 with EINTR, and correct code simply calls again.
///
/// The signal is SIGUSR2 with a handler that does nothing, installed without SA_RESTART, and
/// sent only to the learner's own thread (`pthread_kill`), only while its call is running.
///
///     let interrupter = Interrupter()
///     ... probe.call(...) { try interrupter.watch { try receiveExactly(fd, count: 14) } }
///     // meanwhile, from the grader's side: interrupter.interrupt()
public final class Interrupter: @unchecked Sendable {
    private let lock = NSLock()
    private var thread: pthread_t?
    private var sent = 0

    public init() {
        _ = Self.installed
    }

    /// How many signals reached the learner's thread while its call ran.
    public var delivered: Int { lock.withLock { sent } }

    /// Runs `body` (the learner's call) on the calling thread, which may be interrupted
    /// while it runs. Call it inside the closure given to `probe.call` / `attempt` / `measure`.
    public func watch<T>(_ body: () throws -> T) rethrows -> T {
        lock.withLock { thread = pthread_self() }
        defer { lock.withLock { thread = nil } }
        return try body()
    }

    /// Sends the signal now if the learner's call is still running; true if it was sent.
    /// Under the lock, so the thread cannot finish (and its id be reused) meanwhile.
    @discardableResult
    public func interrupt() -> Bool {
        lock.withLock {
            guard let thread else { return false }
            guard pthread_kill(thread, SIGUSR2) == 0 else { return false }
            sent += 1
            return true
        }
    }

    /// Sends `times` signals, `every` seconds apart, on a thread of its own, to the learner's
    /// call: the first `after` seconds after the call has begun (`watch`), not after now. On a
    /// busy machine the learner's thread can start late, and a signal sent before it runs
    /// interrupts nothing. Gives up when no call begins within two seconds.
    public func interrupt(times: Int, every: Double, after: Double) {
        let thread = Thread { [self] in
            let giveUp = Clock.now + 2
            while lock.withLock({ self.thread == nil }), Clock.now < giveUp { usleep(500) }
            Thread.sleep(forTimeInterval: after)
            for _ in 0..<times {
                interrupt()
                Thread.sleep(forTimeInterval: every)
            }
        }
        thread.name = "harness: interrupter"
        thread.start()
    }

    private static let installed: Bool = {
        var action = signalAction(ignoreSignal, restart: false)  // a blocked recv returns EINTR
        return sigaction(SIGUSR2, &action, nil) == 0
    }()
}

private let ignoreSignal: @convention(c) (Int32) -> Void = { _ in }
