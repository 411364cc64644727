// Lesson 10: Unix domain sockets: a listener at a path, a client, datagrams, and who the peer is.
// Reference answer. Read Lessons/10-unix.md first.
import Foundation
import SocketKit

/// Fills a `sockaddr_un` with `path` and lends it to `body` as a `sockaddr` pointer.
/// Throws `UnixPathTooLong` when the path and its terminating NUL do not fit in sun_path.
private func withUnixAddress<Result>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Result) throws -> Result {
    let bytes = Array(path.utf8)
    guard bytes.count < unixPathCapacity else { throw UnixPathTooLong(path: path) }
    var address = sockaddr_un()  // zero-filled: the byte after the path is the NUL
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
    return try withUnsafePointer(to: &address) { pointer in
        try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            try body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
}

/// The umask is the whole process's: one change at a time.
private let umaskLock = NSLock()

/// Binds `fd` to `path` with the file created at mode `permissions` (the umask decides the
/// mode bind gives the file). Returns bind's result, with errno as bind left it.
private func bind(_ fd: Int32, path: String, permissions: mode_t) throws -> Int32 {
    try withUnixAddress(path) { address, length in
        umaskLock.withLock {
            let previous = umask(0o777 & ~permissions)
            let result = bind(fd, address, length)
            let saved = errno
            umask(previous)
            errno = saved
            return result
        }
    }
}

/// True when `path` is a socket file that nobody answers on: its server is gone.
/// (lstat, not stat: a symbolic link is not a socket, wherever it points.)
private func isStaleSocket(_ path: String) throws -> Bool {
    var info = stat()
    guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { return false }
    let probe = socket(AF_UNIX, SocketType.stream.rawValue, 0)
    guard probe >= 0 else { throw SocketError(call: "socket") }
    defer { _ = close(probe) }
    // Non-blocking: a live server whose queue is full would leave a blocking connect
    // waiting until it accepts. Then connect fails with EAGAIN: alive, so not stale.
    guard fcntl(probe, F_SETFL, fcntl(probe, F_GETFL) | O_NONBLOCK) == 0 else { throw SocketError(call: "fcntl") }
    let result = try withUnixAddress(path) { connect(probe, $0, $1) }
    return result < 0 && errno == ECONNREFUSED
}

public func makeUnixListener(path: String, backlog: Int32 = 16, permissions: mode_t = 0o600) throws -> Int32 {
    guard path.utf8.count < unixPathCapacity else { throw UnixPathTooLong(path: path) }
    let fd = socket(AF_UNIX, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    var bound = false
    do {
        if try bind(fd, path: path, permissions: permissions) != 0 {
            let failure = SocketError(call: "bind")
            // Something is there. Only a socket that nobody answers on may go.
            guard failure.code == EADDRINUSE, try isStaleSocket(path) else { throw failure }
            guard unlink(path) == 0 || errno == ENOENT else { throw SocketError(call: "unlink") }
            guard try bind(fd, path: path, permissions: permissions) == 0 else { throw SocketError(call: "bind") }
        }
        bound = true
        guard listen(fd, backlog) == 0 else { throw SocketError(call: "listen") }
        return fd
    } catch {
        if bound { _ = unlink(path) }  // the file this call made, and only that one
        _ = close(fd)
        throw error
    }
}

public func closeUnixListener(_ listener: Int32, path: String) throws {
    let removed = unlink(path) == 0 ? nil : SocketError(call: "unlink")
    guard close(listener) == 0 else { throw SocketError(call: "close") }
    if let removed { throw removed }
}

public func connectUnix(path: String) throws -> Int32 {
    guard path.utf8.count < unixPathCapacity else { throw UnixPathTooLong(path: path) }
    let fd = socket(AF_UNIX, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    do {
        guard try withUnixAddress(path, { connect(fd, $0, $1) }) == 0 else { throw SocketError(call: "connect") }
        return fd
    } catch {
        _ = close(fd)
        throw error
    }
}

public func unixDatagramRequest(_ request: [UInt8], to serverPath: String, from clientPath: String, timeout: Double) throws -> [UInt8] {
    for path in [serverPath, clientPath] where path.utf8.count >= unixPathCapacity { throw UnixPathTooLong(path: path) }
    let fd = socket(AF_UNIX, SocketType.datagram.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    defer { _ = close(fd) }
    // Bound, so that the server has an address to answer; the file is ours only if bind made it.
    guard try withUnixAddress(clientPath, { bind(fd, $0, $1) }) == 0 else { throw SocketError(call: "bind") }
    defer { _ = unlink(clientPath) }

    let sent = try withUnixAddress(serverPath) { address, length in
        request.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, address, length) }
    }
    guard sent >= 0 else { throw SocketError(call: "sendto") }

    let deadline = monotonicSeconds() + timeout
    while true {
        let left = deadline - monotonicSeconds()
        guard left > 0 else { throw SocketError(call: "recv", code: ETIMEDOUT) }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, Int32((left * 1000).rounded(.up)))
        if ready < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if ready == 0 { continue }  // the loop's first line decides whether time is up
        var reply = [UInt8](repeating: 0, count: 65_536)
        let count = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { throw SocketError(call: "recv") }
        return Array(reply.prefix(count))
    }
}

/// Seconds on a clock that only moves forward (unlike the time of day).
private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

public func peerCredentials(of fd: Int32) throws -> PeerCredentials {
    #if canImport(Darwin)
    var uid = uid_t(), gid = gid_t()
    guard getpeereid(fd, &uid, &gid) == 0 else { throw SocketError(call: "getpeereid") }
    var pid = pid_t()
    var length = socklen_t(MemoryLayout<pid_t>.size)
    guard getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &length) == 0 else { throw SocketError(call: "getsockopt") }
    return PeerCredentials(pid: pid, uid: uid, gid: gid)
    #else
    /// Linux's `struct ucred`, which Glibc hides from Swift: three fields, 12 bytes.
    struct Credentials {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }
    var credentials = Credentials()
    var length = socklen_t(MemoryLayout<Credentials>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { throw SocketError(call: "getsockopt") }
    return PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
    #endif
}
