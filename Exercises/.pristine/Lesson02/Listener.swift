// Lesson 2: bind a TCP socket to an address, listen, and accept clients.
// Read Lessons/02-bind-listen.md first. Grade with: swift test --filter Lesson02
//
// Each function below is a stub: it throws NotStarted() until you replace its body.
// `import SocketKit` brings in the C calls (socket, setsockopt, bind, listen, accept,
// getsockname, inet_pton, close) and the workbook's SocketError and SocketAddress.
import SocketKit

/// Makes a TCP socket that listens on `host`:`port` (IPv4), like Python's
///
///     s = socket.socket(AF_INET, SOCK_STREAM)
///     s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
///     s.bind((host, port))
///     s.listen(backlog)
///
/// - Parameters:
///   - host: a numeric IPv4 address: "127.0.0.1" (this machine only) or "0.0.0.0" (every interface).
///     Any address of this machine will do: all of 127.0.0.0/8 is loopback (127.0.0.2...).
///     A name ("localhost"), "" or an IPv6 address is not an IPv4 address: it throws.
///   - port: in host byte order; 0 asks the kernel to pick a free port.
///   - backlog: how many finished handshakes may wait for `accept`: given to `listen` as it is.
/// - Returns: the listening socket's descriptor.
/// - Throws: `SocketError` naming the call that failed ("inet_pton" with EINVAL for a
///   host that is not an IPv4 address). Nothing is left open when it throws.
///
/// Steps:
/// 1. `socket(AF_INET, SocketType.stream.rawValue, 0)`, checked.
/// 2. `setsockopt` with `SO_REUSEADDR` set to 1, before bind.
/// 3. A `sockaddr_in`: family `sa_family_t(AF_INET)`, port in network byte order,
///    address from `inet_pton` (check that it returned 1).
/// 4. `bind`, passing the struct as a `sockaddr` pointer (`withMemoryRebound`) and its size.
/// 5. `listen(fd, backlog)`.
/// If any step after 1 fails: make the SocketError first (it reads errno), close the socket,
/// then throw the error (close may change errno).
public func makeListener(host: String, port: UInt16, backlog: Int32 = 16) throws -> Int32 {
    throw NotStarted()
}

/// Waits for the next client and returns its connection and address, like Python's
/// `conn, addr = s.accept()`.
///
/// - Returns: a new descriptor for talking to this one client (the listener keeps
///   listening), and the client's address (IPv4 or IPv6: whichever the listener is).
/// - Throws: `SocketError` naming "accept" when the call fails (for example EINVAL when
///   `listener` is not listening, EMFILE when no descriptor is free). Nothing is left open.
///
/// Steps: a `sockaddr_storage` and a `socklen_t` holding its size; `accept` with both;
/// check the result; turn the storage into an address with
/// `SocketAddress(storage: storage, length: length)`.
public func acceptConnection(on listener: Int32) throws -> (connection: Int32, peer: SocketAddress) {
    throw NotStarted()
}

/// The address a socket is bound to, like Python's `s.getsockname()`. After binding to
/// port 0 this is how you learn which port the kernel picked.
///
/// - Throws: `SocketError` naming "getsockname" when the call fails. `fd` stays open.
///
/// Steps: like `acceptConnection`, with `getsockname(fd, pointer, &length)`.
public func boundAddress(of fd: Int32) throws -> SocketAddress {
    throw NotStarted()
}
