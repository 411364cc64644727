// Lesson 7: many clients at once: a thread for each, then one thread and poll.
// Read Lessons/07-many-clients.md first. Grade with: swift run workbook check 7
//
// Each function below is a stub: it throws NotStarted() until you replace its body.
// `import SocketKit` brings in the C calls (poll, accept, recv, send, fcntl, pipe, close,
// errno), SocketError and `sendNoSignal`; `import Foundation` brings Thread and NSLock.
import Foundation
import SocketKit

/// Serves every client that connects to `listener`: each connection is handed to `handler`
/// on a thread of its own, with at most `limit` handlers running at once (`limit` is 1 or
/// more).
///
/// - Accept a connection, start a thread that calls `handler(connection)` and then closes
///   the connection (this function's job, exactly once, after the handler returns).
/// - While `limit` handlers are running, accept nothing: the next clients wait in the listen
///   backlog until a handler returns. A thread costs memory and a place in the scheduler;
///   the limit is what keeps a crowd of clients from taking the machine down.
/// - `stop` is the read end of a pipe. When it becomes readable (someone wrote a byte to the
///   other end), stop accepting, wait until the handlers still running have returned, and
///   return. Never read from `stop`: other servers may watch it too. The listener stays
///   open: it is the caller's.
/// - Waiting must not use the processor: block in `poll` (on `stop` and, below the limit,
///   the listener), never loop around a zero timeout.
///
/// - First make sure `listener` is a listening socket: `getsockopt` SO_ACCEPTCONN fails on
///   a closed number (EBADF) or a pipe (ENOTSOCK), and reads 0 on a socket that is not
///   listening. Otherwise `poll` would wait for ever on something that can never connect.
///
/// - Throws: `SocketError` naming "getsockopt" when the listener is not a socket (or
///   `SocketError(call: "listen", code: EINVAL)` when it is one that does not listen);
///   naming "poll" or "accept" when one fails for a reason other than EINTR (try again),
///   EAGAIN (nothing to accept after all, on a non-blocking listener) or ECONNABORTED (a
///   client that gave up while it waited: skip it). POLLNVAL or POLLERR on the listener
///   means it broke under you: throw then too, do not poll it again.
///
/// Steps: a counter of running handlers behind a lock, and a pipe of your own that each
/// handler's thread writes a byte to when it ends, so that `poll` wakes up. Loop: poll
/// `stop`, your pipe, and (below the limit) the listener, all for POLLIN, with no timeout.
public func serveWithThreads(_ listener: Int32, limit: Int, stop: Int32, handler: @escaping @Sendable (Int32) -> Void) throws {
    throw NotStarted()
}

/// Echoes every byte each client sends back to that client, for any number of clients at
/// once, on this one thread, with `poll`.
///
/// - Every connection is non-blocking (fcntl O_NONBLOCK) and has a buffer of the bytes it
///   sent that have not been sent back yet. Ask `poll` for POLLOUT on a connection only
///   while its buffer is not empty: a socket can almost always be written to, so asking
///   always makes `poll` return at once, for ever (a loop that spins).
/// - Send what you can (a send may take only part of the buffer, or fail with EAGAIN: keep
///   the rest for the next POLLOUT). Keep the bytes in order.
/// - Keep reading what each client sends (POLLIN) even while its buffer is not empty: the
///   buffer is where its bytes wait, and `maxPending` is what bounds it. A client that sends
///   but does not read would make its buffer grow without end: when a buffer would hold more
///   than `maxPending` bytes, close that connection and drop its buffer. The others go on as
///   if nothing happened.
/// - A connection with no traffic either way for `idleTimeout` seconds (nothing received
///   from it and nothing sent to it; a fraction, such as 0.25, is allowed; it is more than
///   0) is closed.
/// - When a client closes its end (recv returns 0), send back what is still pending, then
///   close. A reset or another error on one connection closes that connection only.
/// - `stop` is the read end of a pipe: when it becomes readable, close every connection
///   you accepted and return. Never read from `stop`. The listener stays open: it is the
///   caller's (you may make it non-blocking).
/// - Nothing to do means blocking in `poll`, using no processor time: its timeout is the
///   time until the next idle connection is due, or -1 when there is none.
///
/// - Throws: first of all, the same as `serveWithThreads` when `listener` is not a listening
///   socket; `SocketError` naming "poll" when poll fails for a reason other than EINTR, or
///   naming "accept" when accept fails for a reason other than EINTR, EAGAIN or
///   ECONNABORTED. Close your connections first.
///
/// Steps: an array of pollfd (stop, the listener, then each connection) rebuilt each time
/// round the loop, and a dictionary from descriptor to (buffer, last activity).
public func serveEchoWithPoll(_ listener: Int32, stop: Int32, maxPending: Int, idleTimeout: Double) throws {
    throw NotStarted()
}
