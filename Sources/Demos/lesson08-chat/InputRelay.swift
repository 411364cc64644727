import DemoSupport
import Foundation
import SocketKit

/// What the client types, handed to your runChatClient through a pipe rather than as
/// standard input itself, for two things the demo adds around your code:
///
/// - `--nick NAME`: "/nick NAME\n" goes into the pipe first, as if you had typed it before
///   anything else. Your client sends it like any other line, and prints the server's
///   answer ("welcome NAME", or "error: nickname taken": then type /nick with another).
/// - An end to the wait after /quit: when standard input ends (Ctrl-D, or the end of a
///   pipe), the pipe is closed, your client sees its end and sends "/quit", and a clock
///   starts: if the server has not closed the connection --wait seconds later, the demo
///   shuts the connection down (your client's recv then returns 0, and it returns) and
///   says so. A server that forgets to close after "bye" does not keep the client for ever.
///
/// A thread of the demo's copies standard input into the pipe as it comes: chunks as they
/// are read, bytes unchanged. To your client it is an input like any other: poll and read
/// work on a pipe as they do on a terminal.
final class InputRelay: @unchecked Sendable {
    /// Your runChatClient's `input`.
    let readEnd: Int32
    private let writeEnd: Int32
    private let connection: Int32
    private let wait: Double
    private let lock = NSLock()
    private var finished = false
    private var inputEnded = false
    /// Whether the input ended in the middle of a line (its last byte not a "\n").
    private var endedMidLine = false
    private var failure: (any Error)?
    private var clock: TimeLimit?

    /// Starts copying standard input into the pipe, after `first` (the --nick line).
    init(first: [UInt8], connection: Int32, wait: Double) throws {
        (readEnd, writeEnd) = try makePipe()
        self.connection = connection
        self.wait = wait
        Thread { [self] in relay(first) }.start()
    }

    private func relay(_ first: [UInt8]) {
        var failed: (any Error)?
        var last = first.last
        if writeAll(writeEnd, first) {
            do {
                try command.forEachInputChunk { chunk in
                    last = chunk.last ?? last
                    // The pipe's reader is this process: a write fails only once it is leaving.
                    guard writeAll(writeEnd, chunk) else { throw PipeClosed() }
                }
            } catch is PipeClosed {
            } catch {
                failed = error  // "cannot read standard input: ...", said after the client has left
            }
        }
        // Noted before the pipe's end is: once it is, your client may send /quit, hear bye
        // and return, and `finish` must then find the input ended.
        lock.withLock {
            guard !finished else { return }  // the server closed the connection first
            inputEnded = true
            endedMidLine = last != nil && last != UInt8(ascii: "\n")
            failure = failed
            clock = try? TimeLimit(on: connection, seconds: wait)
        }
        _ = close(writeEnd)  // the end of input for your client: it sends /quit
    }

    /// Call it once your runChatClient has returned (or thrown): stops the clock, and says
    /// whether standard input had ended (and whether in the middle of a line), whether the
    /// clock had to shut the connection down, and the error that ended standard input, if
    /// one did.
    func finish() -> (inputEnded: Bool, midLine: Bool, timedOut: Bool, failure: (any Error)?) {
        lock.lock()
        finished = true
        let (ended, midLine, clock, failure) = (inputEnded, endedMidLine, self.clock, self.failure)
        lock.unlock()
        return (ended, midLine, clock?.end() ?? false, failure)
    }
}

/// The relay's pipe would take no more: the process is leaving.
private struct PipeClosed: Error {}
