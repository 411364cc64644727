/// A system call failed. Says which call, the errno name and the system's text for it:
///
///     bind failed: EADDRINUSE (Address already in use)
///
/// Create it right after the call returned -1, before anything else can change `errno`:
///
///     guard bind(fd, pointer, length) == 0 else { throw SocketError(call: "bind") }
public struct SocketError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call that failed, as the learner would look it up: "socket", "bind", "accept"...
    public let call: String
    /// The errno value the call left behind.
    public let code: Int32

    /// Records a failed call. `code` defaults to the current `errno`, so call this at once.
    public init(call: String, code: Int32 = errno) {
        self.call = call
        self.code = code
    }

    /// The symbolic name of the error, such as "ECONNREFUSED".
    public var name: String { errnoName(code) }

    /// The C library's description, such as "Connection refused".
    public var text: String { String(decoding: errnoText(code), as: UTF8.self) }

    public var description: String { "\(call) failed: \(name) (\(text))" }
}

/// The symbolic name of an errno value ("EADDRINUSE"), or "errno 123" for one not listed.
public func errnoName(_ code: Int32) -> String {
    // A list of pairs rather than a dictionary: on Linux some names share a value
    // (EAGAIN == EWOULDBLOCK, ENOTSUP == EOPNOTSUPP) and the first one listed wins.
    for (value, name) in knownErrnos where value == code { return name }
    return "errno \(code)"
}

private let knownErrnos: [(Int32, String)] = [
    (EPERM, "EPERM"), (ENOENT, "ENOENT"), (EINTR, "EINTR"), (EIO, "EIO"), (EBADF, "EBADF"),
    (EAGAIN, "EAGAIN"), (EWOULDBLOCK, "EWOULDBLOCK"), (ENOMEM, "ENOMEM"), (EACCES, "EACCES"),
    (EFAULT, "EFAULT"), (EBUSY, "EBUSY"), (EEXIST, "EEXIST"), (ENOTDIR, "ENOTDIR"),
    (EINVAL, "EINVAL"), (ENFILE, "ENFILE"), (EMFILE, "EMFILE"), (ENOSPC, "ENOSPC"),
    (EPIPE, "EPIPE"), (ENAMETOOLONG, "ENAMETOOLONG"), (ENOTSOCK, "ENOTSOCK"),
    (EDESTADDRREQ, "EDESTADDRREQ"), (EMSGSIZE, "EMSGSIZE"), (EPROTOTYPE, "EPROTOTYPE"),
    (ENOPROTOOPT, "ENOPROTOOPT"), (EPROTONOSUPPORT, "EPROTONOSUPPORT"),
    (ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"), (EOPNOTSUPP, "EOPNOTSUPP"), (ENOTSUP, "ENOTSUP"),
    (EPFNOSUPPORT, "EPFNOSUPPORT"), (EAFNOSUPPORT, "EAFNOSUPPORT"), (EADDRINUSE, "EADDRINUSE"),
    (EADDRNOTAVAIL, "EADDRNOTAVAIL"), (ENETDOWN, "ENETDOWN"), (ENETUNREACH, "ENETUNREACH"),
    (ECONNABORTED, "ECONNABORTED"), (ECONNRESET, "ECONNRESET"), (ENOBUFS, "ENOBUFS"),
    (EISCONN, "EISCONN"), (ENOTCONN, "ENOTCONN"), (ESHUTDOWN, "ESHUTDOWN"),
    (ETIMEDOUT, "ETIMEDOUT"), (ECONNREFUSED, "ECONNREFUSED"), (EHOSTDOWN, "EHOSTDOWN"),
    (EHOSTUNREACH, "EHOSTUNREACH"), (EALREADY, "EALREADY"), (EINPROGRESS, "EINPROGRESS"),
]

/// The bytes of strerror's text for `code` (copied at once: strerror's buffer may be reused).
private func errnoText(_ code: Int32) -> [UInt8] {
    guard let text = strerror(code) else { return Array("unknown error \(code)".utf8) }
    return Array(UnsafeBufferPointer(start: text, count: strlen(text)).map { UInt8(bitPattern: $0) })
}
