// Lesson 6: socket options. setsockopt / getsockopt, blocking or not, timeouts, and a
// connect that gives up in time.
// Read Lessons/06-options.md first. Grade with: swift test --filter Lesson06
//
// Each function below is a stub: it throws NotStarted() until you replace its body.
// `import SocketKit` brings in setsockopt, getsockopt, fcntl, poll, connect, getpeername,
// the SO_* / TCP_* / O_* constants, SocketError and SocketAddress.
//
// Most options are an Int32 passed by pointer:
//     var value: Int32 = 1
//     setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))   // 0 or -1
// Two small private helpers (set an Int32 option, read one back) will save you typing.
//
// Every function here throws SocketError when its system call fails (fd -1, a closed
// descriptor, a pipe, which is not a socket: ENOTSOCK). Decide failure by what the call
// returned (-1), never by errno alone: errno may still hold an older call's error.
import SocketKit

// MARK: - Setting options

/// SO_REUSEADDR (level SOL_SOCKET): lets a new listener bind a port whose old connections
/// are still in TIME_WAIT. Only counts when set before bind.
public func setReuseAddress(_ fd: Int32, _ enabled: Bool) throws {
    throw NotStarted()
}

/// SO_KEEPALIVE (level SOL_SOCKET): the kernel probes a connection that has been idle for a
/// long time (hours, by default) and reports it broken if the peer has vanished.
public func setKeepAlive(_ fd: Int32, _ enabled: Bool) throws {
    throw NotStarted()
}

/// TCP_NODELAY (level IPPROTO_TCP, not SOL_SOCKET: it is a TCP option): turns off Nagle's
/// algorithm, so small writes go out at once instead of waiting for the previous one's ACK.
///
/// Steps: the level is `Int32(IPPROTO_TCP)`.
public func setNoDelay(_ fd: Int32, _ enabled: Bool) throws {
    throw NotStarted()
}

/// Asks for receive and send buffers of these sizes (SO_RCVBUF, SO_SNDBUF) and returns the
/// sizes the kernel actually chose, read back: Linux doubles what you ask (the extra is for
/// its bookkeeping) and clamps it between a minimum and a maximum.
///
/// Steps: set both, then read both back with getsockopt and return what it says.
public func setBufferSizes(_ fd: Int32, receive: Int32, send: Int32) throws -> (receive: Int32, send: Int32) {
    throw NotStarted()
}

// MARK: - Timeouts and blocking (Python's settimeout / gettimeout / setblocking)

/// Like Python's `s.settimeout(seconds)`: a blocking recv or send that waits longer than
/// `seconds` fails with EAGAIN. nil means no timeout: wait forever.
///
/// Steps: a `timeval(tv_sec: whole seconds, tv_usec: .init(the fraction * 1_000_000))`
/// (all zeros for nil), set as both SO_RCVTIMEO and SO_SNDTIMEO, with
/// `socklen_t(MemoryLayout<timeval>.size)`. Fractions count down to the microsecond: 2.5 is
/// tv_sec 2, tv_usec 500000; 0.0004 is tv_usec 400 (rounded to milliseconds it would be all
/// zeros, which means no timeout at all).
public func setTimeout(_ fd: Int32, _ seconds: Double?) throws {
    throw NotStarted()
}

/// Like Python's `s.gettimeout()`: the receive timeout in seconds, or nil for none.
///
/// Steps: getsockopt SO_RCVTIMEO into a `timeval`; seconds = tv_sec + tv_usec / 1_000_000;
/// 0 means none. Ask the kernel every time: other code may have set the option, and the
/// kernel rounds it to its clock ticks (0.25 reads back as 0.252 here).
public func timeout(of fd: Int32) throws -> Double? {
    throw NotStarted()
}

/// Like Python's `s.setblocking(flag)`: in non-blocking mode, a call that would have to
/// wait fails at once with EAGAIN instead. It is a flag of the descriptor (O_NONBLOCK),
/// changed with fcntl, keeping the other flags as they are.
///
/// Steps: `fcntl(fd, F_GETFL)` gives the flags; add or remove O_NONBLOCK; `fcntl(fd, F_SETFL, flags)`.
/// Asked for the mode the socket already has, it changes nothing.
public func setBlocking(_ fd: Int32, _ blocking: Bool) throws {
    throw NotStarted()
}

/// A recv for a non-blocking socket: what has arrived (up to `maxSize` bytes), nil when
/// nothing has arrived yet, [] when the peer has closed.
///
/// EAGAIN (or EWOULDBLOCK) is not a failure here: it is the kernel saying "nothing yet".
/// It answers at once, without waiting. Any other failure (EBADF, ENOTCONN...) throws.
public func receiveIfReady(_ fd: Int32, maxSize: Int) throws -> [UInt8]? {
    throw NotStarted()
}

// MARK: - Asking about a socket

/// SO_ERROR: the error waiting on the socket (0 for none), for example the result of a
/// non-blocking connect. Reading it clears it.
public func pendingError(_ fd: Int32) throws -> Int32 {
    throw NotStarted()
}

/// SO_ACCEPTCONN: true when `listen` has been called on the socket.
public func isListening(_ fd: Int32) throws -> Bool {
    throw NotStarted()
}

/// The address of the other end of a connected socket, like Python's `s.getpeername()`.
///
/// Steps: as lesson 2's boundAddress(of:), with getpeername. A socket with no peer (never
/// connected, or a listener) makes getpeername fail with ENOTCONN: throw it.
public func peerAddress(of fd: Int32) throws -> SocketAddress {
    throw NotStarted()
}

// MARK: - Putting options to work

/// A TCP listener on `address` (IPv4 or IPv6) that a restarted server can always get back:
/// SO_REUSEADDR is set after socket() and before bind(), the only order in which it helps.
///
/// Steps: lesson 2's makeListener, with `address.family` and `address.withSockAddr`, and
/// your setReuseAddress in the right place; `listen(fd, backlog)` with the backlog given.
/// Close on every failure: nothing is left open when it throws (a port in use, an address
/// of no interface here, a host that does not parse, no descriptor left).
public func makeReusableListener(on address: SocketAddress, backlog: Int32 = 16) throws -> Int32 {
    throw NotStarted()
}

/// Connects to `address`, giving up after `timeout` seconds.
///
/// A blocking connect to a host that does not answer waits for minutes. Instead: make the
/// socket non-blocking, start the connect (EINPROGRESS), wait with poll until it is
/// writable or the time is up, then read SO_ERROR to learn how the connect ended. Writable
/// only means "finished": finished can mean refused, which comes back at once.
///
/// - Returns: a connected socket, in blocking mode again, with no timeout option left on it.
/// - Throws: `SocketError` naming "connect": ETIMEDOUT when the time ran out, or the
///   reason it failed (ECONNREFUSED...). Nothing is left open when it throws.
public func openConnection(to address: SocketAddress, timeout: Double) throws -> Int32 {
    throw NotStarted()
}
