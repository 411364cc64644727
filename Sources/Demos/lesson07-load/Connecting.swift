import DemoSupport
import Dispatch
import SocketKit

// Connecting without waiting: each client's socket is non-blocking, so connect returns at
// once (EINPROGRESS) and poll says when the handshake is over (POLLOUT); SO_ERROR then
// says how it went. Lesson 6 teaches the same steps, in openConnection(to:timeout:).

/// A non-blocking socket that has started to connect to `address`. `connected` is true when
/// connect finished at once (it can, on loopback); otherwise wait for POLLOUT and call
/// `connectResult`.
func startConnecting(to address: SocketAddress) throws -> (fd: Int32, connected: Bool) {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    do {
        try setNonBlocking(fd, true)
        try suppressSIGPIPE(on: fd)  // macOS; on Linux, sendNoSignal
        let result = try address.withSockAddr { connect(fd, $0, $1) }
        if result == 0 { return (fd, true) }
        guard errno == EINPROGRESS else { throw SocketError(call: "connect") }
        return (fd, false)
    } catch {
        _ = close(fd)
        throw error
    }
}

/// How a connect that was in progress ended: nil when it is connected, or the error it
/// failed with (ECONNREFUSED: nothing listening).
func connectResult(_ fd: Int32) -> SocketError? {
    var code: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { return SocketError(call: "getsockopt") }
    return code == 0 ? nil : SocketError(call: "connect", code: code)
}

/// A client that connects and then sends nothing until the end of the run (--hold):
/// connected before any other client starts, so that a one-at-a-time server takes it
/// first, and everyone else waits behind it.
func connectSilentClient(to address: SocketAddress, within seconds: Double) throws -> Int32 {
    let (fd, connected) = try startConnecting(to: address)
    if connected { return fd }
    var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
    let ready = poll(&entry, 1, Int32((seconds * 1000).rounded(.up)))  // seconds ≤ 86400: fits
    let failure = ready < 0 ? SocketError(call: "poll") : ready == 0 ? SocketError(call: "connect", code: ETIMEDOUT) : connectResult(fd)
    guard let failure else { return fd }
    _ = close(fd)
    throw DemoError.cannotConnect(to: address, failure)
}

/// Seconds on a clock that only goes forward (the wall clock can jump).
func monotonicSeconds() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}
