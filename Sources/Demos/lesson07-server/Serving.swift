import DemoSupport
import Foundation
import Lesson02
import Lesson04
import SocketKit

/// The one-at-a-time model, the earlier lessons' server: accept a client, echo it until it
/// is done, then accept the next. The demo's own loop; only the echo is yours (lesson 4).
func serveOneAtATime(_ listener: Int32, stop: ServerStop) throws {
    // Non-blocking, so that accept never waits where Ctrl-C could not reach it: poll says
    // when a client is there, and if it gave up before accept took it, accept fails with
    // EAGAIN instead of waiting for the next one.
    try setNonBlocking(listener, true)
    while try clientWaiting(on: listener, orStop: stop.readEnd) {
        let accepted: (connection: Int32, peer: SocketAddress)
        do {
            accepted = try acceptConnection(on: listener)
        } catch let error as SocketError where [EAGAIN, EWOULDBLOCK, ECONNABORTED, EINTR].contains(error.code) {
            continue  // it gave up while it waited
        }
        defer { _ = close(accepted.connection) }
        try setNonBlocking(accepted.connection, false)  // macOS: it inherits O_NONBLOCK (Linux: never)
        try serveClient(accepted.connection, peer: "\(accepted.peer)", stop: stop)
    }
}

/// Waits, using no processor time, until a client is waiting to be accepted (true) or the
/// server should stop (false).
private func clientWaiting(on listener: Int32, orStop stop: Int32) throws -> Bool {
    var entries = [pollfd(fd: stop, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
    while poll(&entries, nfds_t(entries.count), -1) < 0 {
        guard errno == EINTR else { throw SocketError(call: "poll") }
    }
    return entries[0].revents == 0
}

/// The threads model's handler, for your serveWithThreads: lesson 4's echo for one client,
/// on the thread started for it. It says how many are being served, to show the limit.
func threadHandler(_ stop: ServerStop) -> @Sendable (Int32) -> Void {
    let running = RunningCount()
    return { connection in
        // serveWithThreads hands over only the descriptor: ask it who is at the other end.
        let peer = (try? remoteAddress(of: connection)).map { "\($0)" } ?? "a client that has already gone"
        let now = running.add(1)
        defer { running.add(-1) }
        do {
            try serveClient(connection, peer: peer, context: " (\(now) running, at most \(limit))", stop: stop)
        } catch {
            stop.stop(because: "a client's thread failed", failure: error)  // lesson 4 not started: nobody can be served
        }
    }
}

/// Echoes one client with lesson 4's serveEcho, and says how it ended. Throws only what
/// ends the demo (lesson 4 not started): one client's trouble is a line, not the end.
/// The connection stays open: its owner closes it (this demo's loop, or serveWithThreads).
private func serveClient(_ connection: Int32, peer: String, context: String = "", stop: ServerStop) throws {
    guard stop.track(connection) else { return }  // stopping: serve no one new
    defer { stop.untrack(connection) }
    command.say("connected: \(peer)\(context)")
    do {
        try echo(connection)
        command.say(stop.isStopping ? "closed: \(peer): the server is stopping" : "done: \(peer)")
    } catch let notStarted as NotStarted {
        throw notStarted
    } catch let error where isTimeout(error) {
        command.say("dropped: \(peer): it took none of its echo for \(plain(idle)) s (--idle)")
    } catch {
        command.say("dropped: \(peer): \(error)")
    }
}

/// Lesson 4's serveEcho, on a copy of the connection: serveEcho closes what it is given,
/// and the connection's owner closes it as well. Two closes of one number would close
/// whatever another thread had opened under that number in between.
private func echo(_ connection: Int32) throws {
    // serveEcho bounds the silence (--idle); this bounds a send to a client that never
    // reads its echo, which would otherwise keep this client's place (and, one at a
    // time, everyone's) for ever.
    try setSocketTimeouts(connection, receive: nil, send: idle)
    let copy = dup(connection)
    guard copy >= 0 else { throw SocketError(call: "dup") }
    try serveEcho(copy, idleTimeout: idle)
}

/// How many clients the handlers are serving now, shared between their threads.
private final class RunningCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    /// Adds `change` and returns the new count.
    @discardableResult
    func add(_ change: Int) -> Int { lock.withLock { count += change; return count } }
}
