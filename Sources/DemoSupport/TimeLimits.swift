import Foundation
import SocketKit

// Every wait a demo makes on a peer has an end. The servers serve one client at a time, so
// a client that never finishes (silent, dripping one byte a second, or sending without
// ever reading) would otherwise keep every other client out; a client waits a bounded
// time for a server that accepts and never answers.

/// A limit on the total time one connection may take, whatever it is doing. When the time
/// is up, the connection is shut down (`shutdown(SHUT_RDWR)`) from another thread: a
/// `recv` blocked on it returns 0, a blocked `send` fails with EPIPE, so the code serving
/// it (yours, in lesson 4) returns, and the server takes its next client.
///
///     let limit = try TimeLimit(on: connection, seconds: 120)
///     serve(connection)
///     if limit.end() { print("time is up") }
public final class TimeLimit: @unchecked Sendable {
    private let lock = NSLock()
    private var ended = false
    private var expired = false
    /// A second descriptor for the same connection, closed only by `end()`: the code being
    /// limited may close `connection` itself, and its number may then be reused, but this
    /// one stays valid until no shutdown can happen any more.
    private let handle: Int32
    private var timer: DispatchWorkItem?

    public init(on connection: Int32, seconds: Double) throws {
        handle = dup(connection)
        guard handle >= 0 else { throw SocketError(call: "dup") }
        let item = DispatchWorkItem { [self] in expire() }
        timer = item
        let clamped = min(max(seconds, 0), secondsRange.upperBound)
        DispatchQueue.global().asyncAfter(deadline: .now() + clamped, execute: item)
    }

    private func expire() {
        lock.lock()
        defer { lock.unlock() }
        guard !ended else { return }
        expired = true
        _ = LibC.shutdown(handle, ShutdownHow.both)
    }

    /// Stops the clock; true when the time had run out (the connection was shut down).
    /// Call it once, when the connection has been served.
    @discardableResult
    public func end() -> Bool {
        lock.lock()
        ended = true
        let result = expired
        let item = timer
        timer = nil
        lock.unlock()
        item?.cancel()
        _ = LibC.close(handle)
        return result
    }
}

extension DemoCommand {
    /// Runs `body` (a blocking call such as connect), and if it has not returned after
    /// `seconds`, ends the program with `message` (one line, exit status 2).
    public func within<Result>(_ seconds: Double, or message: String, _ body: () throws -> Result) rethrows -> Result {
        let done = DoneFlag()
        let command = self
        let item = DispatchWorkItem {
            done.lock.lock()
            guard !done.value else { return done.lock.unlock() }
            command.fail(message)  // exits with the lock held: the body can no longer finish
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + min(max(seconds, 0), secondsRange.upperBound), execute: item)
        defer {
            done.lock.lock()
            done.value = true
            done.lock.unlock()
            item.cancel()
        }
        return try body()
    }
}

/// A flag shared with a timer thread, behind a lock.
private final class DoneFlag: @unchecked Sendable {
    let lock = NSLock()
    var value = false
}

/// Sets SO_RCVTIMEO and SO_SNDTIMEO (nil leaves one as it is): a blocking recv or send
/// that waits longer fails with EAGAIN. Lesson 6 teaches these options; the demos set
/// them with their own code, so that a wait is bounded even before you get there.
public func setSocketTimeouts(_ fd: Int32, receive: Double?, send: Double?) throws {
    for (name, seconds) in [(SO_RCVTIMEO, receive), (SO_SNDTIMEO, send)] {
        guard let seconds else { continue }
        var time = makeTimeval(seconds: seconds)
        guard setsockopt(fd, SOL_SOCKET, name, &time, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw SocketError(call: "setsockopt")
        }
    }
}

/// True when `error` is a send or receive that gave up because its socket timeout ran out.
public func isTimeout(_ error: any Error) -> Bool {
    guard let error = error as? SocketError else { return false }
    return error.code == EAGAIN || error.code == EWOULDBLOCK
}
