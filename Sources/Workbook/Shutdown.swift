import Foundation
import GradingHarness
import SocketKit

/// How the workbook ends, on every way out: its grading processes stopped (with whatever they
/// started) and its temporary files removed (`Cleanup.sweep`), whether it finishes, fails,
/// or is interrupted by SIGINT (Ctrl-C), SIGTERM or SIGHUP.
///
/// The signal handler only writes the signal's number to a pipe (write is async-signal-safe);
/// a thread of its own reads the pipe and does the work. After the sweep it ends the process
/// by the same signal, with the default action, so the shell sees the usual status
/// (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP) and a script that ran it stops too.
enum Shutdown {
    private static let state = State()

    /// Installs the handlers. A signal that was ignored when the workbook started (nohup, a
    /// background job of a script) stays ignored, as is the custom.
    static func install() {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }  // never handed to a child
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)  // the handler never waits
        signalPipe = ends[1]
        for number in [SIGINT, SIGTERM, SIGHUP] {
            var previous = sigaction()
            guard sigaction(number, nil, &previous) == 0, !isIgnored(previous) else { continue }
            var action = signalAction(onSignal, restart: true)
            sigaction(number, &action, nil)
        }
        let reader = ends[0]
        Thread.detachNewThread {
            var byte: UInt8 = 0
            while true {
                let count = read(reader, &byte, 1)
                if count == 1 { interrupted(by: Int32(byte)) }
                if count == 0 || (count < 0 && errno != EINTR) { return }
            }
        }
    }

    /// Ends the workbook with `status` after the sweep. If an interrupt is already being
    /// handled, waits for it to end the process instead.
    static func exit(_ status: Int32) -> Never {
        guard state.claim() else { waitForever() }
        Cleanup.shared.sweep()
        Foundation.exit(status)
    }

    /// On the reading thread, after a signal: one line on stderr, no further output, the
    /// sweep, then the signal again with its default action.
    private static func interrupted(by number: Int32) {
        guard state.claim() else { return }  // a normal exit is already under way
        let name = [SIGINT: "SIGINT", SIGTERM: "SIGTERM", SIGHUP: "SIGHUP"][number] ?? "signal \(number)"
        printError("workbook: interrupted (\(name)): stopping the checks and removing temporary files")
        // Whatever the other threads print from now on (a check "crashed" because it was
        // stopped, say) would be false: send it nowhere.
        let null = open("/dev/null", O_WRONLY)
        if null >= 0 {
            dup2(null, STDOUT_FILENO)
            dup2(null, STDERR_FILENO)
        }
        Cleanup.shared.sweep()
        signal(number, SIG_DFL)
        kill(getpid(), number)
        Thread.sleep(forTimeInterval: 2)
        _exit(128 + number)  // only if the signal did not end the process
    }

    private static func waitForever() -> Never {
        while true { Thread.sleep(forTimeInterval: 3600) }
    }

    private static func isIgnored(_ action: sigaction) -> Bool {
        #if canImport(Darwin)
        let handler = action.__sigaction_u.__sa_handler
        #else
        let handler = action.__sigaction_handler.sa_handler
        #endif
        guard let handler else { return false }
        return unsafeBitCast(handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
    }

    /// Who ends the process: the first to ask, a normal exit or an interrupt.
    private final class State: @unchecked Sendable {
        private let lock = NSLock()
        private var claimed = false
        func claim() -> Bool {
            lock.withLock {
                defer { claimed = true }
                return !claimed
            }
        }
    }
}

/// The write end of the signal pipe, set once before any handler is installed.
nonisolated(unsafe) private var signalPipe: Int32 = -1

/// The signal handler: one byte to the pipe, errno left as it was. Nothing else is safe here.
private func onSignal(_ number: Int32) {
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: number)
    _ = write(signalPipe, &byte, 1)
    errno = saved
}
