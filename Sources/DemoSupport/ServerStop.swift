import Foundation
import SocketKit

/// How a server demo stops: on Ctrl-C (SIGINT) or SIGTERM, or when something ends the
/// whole demo (lesson07-server: a client's thread finds lesson 4 not started).
///
/// Stopping writes one byte to a pipe whose read end the server watches with `poll`
/// (`serveWithThreads`, `serveEchoWithPoll` and `serveChat` take it as `stop`), and shuts
/// down every connection being served that was `track`ed, so that a handler waiting in
/// `recv` returns now rather than after --idle seconds (lesson07-server's threads).
///
/// No work is done in a signal handler: there is none. The signals are blocked, and a
/// thread of their own takes them with `sigwait`, as ordinary code that may lock and write.
public final class ServerStop: @unchecked Sendable {
    /// Becomes readable when the server should stop. Only ever watched, never read.
    public let readEnd: Int32
    private let writeEnd: Int32
    private let lock = NSLock()
    private var stopping = false
    private var why = ""
    private var failure: (any Error)?
    /// The connections being served now, to shut down when the server stops.
    private var connections: Set<Int32> = []

    /// Blocks SIGINT and SIGTERM and starts the thread that waits for them. Call it before
    /// the server starts any other thread: threads inherit the blocked signals, and one
    /// that did not block them would take a signal and die of it (the default action).
    public init() throws {
        (readEnd, writeEnd) = try makePipe()
        var signals = stopSignals()
        let result = pthread_sigmask(SIG_BLOCK, &signals, nil)
        guard result == 0 else { throw SocketError(call: "pthread_sigmask", code: result) }
        Thread { [self] in waitForSignal() }.start()
    }

    private func waitForSignal() {
        var signals = stopSignals()
        var signal: Int32 = 0
        let result = sigwait(&signals, &signal)
        guard result == 0 else {
            // Cannot happen with this set; if it did, Ctrl-C would do nothing: say so and end.
            return stop(because: "sigwait failed", failure: SocketError(call: "sigwait", code: result))
        }
        stop(because: signal == SIGINT ? "SIGINT, Ctrl-C" : "SIGTERM")
    }

    /// Stops the server (the first call counts): wakes every model's `poll`, and shuts down
    /// the connections being served. With `failure`, the demo then ends with that error.
    public func stop(because reason: String, failure: (any Error)? = nil) {
        // All under the lock: a connection is closed only after `untrack`, which waits for
        // it, so no number shut down here can have been closed and handed to someone else.
        lock.withLock {
            guard !stopping else { return }
            stopping = true
            why = reason
            self.failure = failure
            var byte: UInt8 = 1
            _ = write(writeEnd, &byte, 1)  // one byte into an empty pipe: it cannot block or fail
            for fd in connections { _ = LibC.shutdown(fd, ShutdownHow.both) }
        }
    }

    /// Notes a connection being served, to shut it down if the server stops. False when it
    /// is already stopping: then do not serve it at all. Call `untrack` before closing it.
    public func track(_ connection: Int32) -> Bool {
        lock.withLock {
            guard !stopping else { return false }
            connections.insert(connection)
            return true
        }
    }

    public func untrack(_ connection: Int32) {
        _ = lock.withLock { connections.remove(connection) }
    }

    /// True once `stop` has been called.
    public var isStopping: Bool { lock.withLock { stopping } }

    /// Why the server stopped, and the error that stopped it, if one did.
    public var outcome: (reason: String, failure: (any Error)?) {
        lock.withLock { (why, failure) }
    }

    /// Call it when the serving call has returned: why it stopped ("SIGINT, Ctrl-C"), or
    /// throws the error that stopped it. Only this pipe may end a server; one that returned
    /// by itself is worth a line (`server` names it: "the chat server").
    public func reasonAfterServing(_ server: String) throws -> String {
        let (reason, failure) = outcome
        if let failure { throw failure }
        guard !reason.isEmpty else {
            throw DemoError("\(server) returned, but nothing had asked it to stop (the stop pipe was not readable)")
        }
        return reason
    }
}

/// The signals that stop the server: SIGINT (Ctrl-C) and SIGTERM (`kill`).
private func stopSignals() -> sigset_t {
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGINT)
    sigaddset(&signals, SIGTERM)
    return signals
}
