// Known-good: the stale probe made non-blocking by socket() itself (SOCK_NONBLOCK); the sockaddr_un built as a byte array (family at its offset, the path after it, the length up to the NUL only); the datagram socket connected to the server and used with write / read; the reply waited for with poll on a deadline; the credentials read into a tuple.
// Lesson 10: Unix domain sockets.
import Foundation
import SocketKit

private let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
private let umaskGuard = NSLock()

/// The address as bytes: sun_family, then the path and its NUL.
private func addressBytes(_ path: String) throws -> [UInt8] {
    let name = Array(path.utf8)
    if name.count + 1 > unixPathCapacity { throw UnixPathTooLong(path: path) }
    var bytes = [UInt8](repeating: 0, count: pathOffset + name.count + 1)
    withUnsafeBytes(of: sa_family_t(AF_UNIX)) { family in
        for (index, byte) in family.enumerated() { bytes[MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_family)! + index] = byte }
    }
    #if canImport(Darwin)
    bytes[0] = UInt8(bytes.count)  // sun_len
    #endif
    bytes.replaceSubrange(pathOffset..<pathOffset + name.count, with: name)
    return bytes
}

private func call(_ fd: Int32, _ path: String, _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) throws -> Int32 {
    let bytes = try addressBytes(path)
    return bytes.withUnsafeBytes { raw in
        body(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
    }
}

private func answersOrIsNotASocket(_ path: String) throws -> Bool {
    var info = stat()
    guard lstat(path, &info) == 0 else { return false }
    guard (info.st_mode & S_IFMT) == S_IFSOCK else { return true }
    #if os(Linux)
    let probe = socket(AF_UNIX, SocketType.stream.rawValue | Int32(SOCK_NONBLOCK.rawValue), 0)  // non-blocking from the start
    #else
    let probe = socket(AF_UNIX, SocketType.stream.rawValue, 0)
    if probe >= 0 { _ = fcntl(probe, F_SETFL, O_NONBLOCK) }
    #endif
    guard probe >= 0 else { throw SocketError(call: "socket") }
    let result = try call(probe, path) { connect($0, $1, $2) }
    let code = errno
    close(probe)
    return !(result == -1 && code == ECONNREFUSED)
}

public func makeUnixListener(path: String, backlog: Int32 = 16, permissions: mode_t = 0o600) throws -> Int32 {
    _ = try addressBytes(path)
    let fd = socket(AF_UNIX, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    func bindOnce() throws -> Int32 {
        umaskGuard.lock()
        let saved = umask(0o777 & ~permissions)
        defer {
            umask(saved)
            umaskGuard.unlock()
        }
        return try call(fd, path) { bind($0, $1, $2) } == 0 ? 0 : errno
    }
    var created = false
    do {
        var code = try bindOnce()
        if code == EADDRINUSE, try !answersOrIsNotASocket(path) {
            guard unlink(path) == 0 || errno == ENOENT else { throw SocketError(call: "unlink") }
            code = try bindOnce()
        }
        guard code == 0 else { throw SocketError(call: "bind", code: code) }
        created = true
        guard listen(fd, backlog) == 0 else { throw SocketError(call: "listen") }
        return fd
    } catch {
        if created { unlink(path) }
        close(fd)
        throw error
    }
}

public func closeUnixListener(_ listener: Int32, path: String) throws {
    let unlinked = unlink(path) == 0 ? 0 : errno
    let closed = close(listener) == 0 ? 0 : errno
    if unlinked != 0 { throw SocketError(call: "unlink", code: unlinked) }
    if closed != 0 { throw SocketError(call: "close", code: closed) }
}

public func connectUnix(path: String) throws -> Int32 {
    _ = try addressBytes(path)
    let fd = socket(AF_UNIX, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    let result = try call(fd, path) { connect($0, $1, $2) }
    if result == 0 { return fd }
    let failure = SocketError(call: "connect")
    close(fd)
    throw failure
}

public func unixDatagramRequest(_ request: [UInt8], to serverPath: String, from clientPath: String, timeout: Double) throws -> [UInt8] {
    _ = try addressBytes(serverPath)
    _ = try addressBytes(clientPath)
    let fd = socket(AF_UNIX, SocketType.datagram.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    defer { close(fd) }
    guard try call(fd, clientPath, { bind($0, $1, $2) }) == 0 else { throw SocketError(call: "bind") }
    defer { unlink(clientPath) }
    // Connected: write sends to the server, read takes only the server's datagrams.
    guard try call(fd, serverPath, { connect($0, $1, $2) }) == 0 else { throw SocketError(call: "sendto") }
    let written = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written >= 0 else { throw SocketError(call: "sendto") }
    let deadline = Date().addingTimeInterval(timeout)
    var reply = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let left = deadline.timeIntervalSinceNow
        guard left > 0 else { throw SocketError(call: "recv", code: ETIMEDOUT) }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        switch poll(&entry, 1, Int32((left * 1000).rounded(.up))) {
        case -1 where errno == EINTR, 0: continue
        case -1: throw SocketError(call: "poll")
        default:
            let got = reply.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard got >= 0 else { throw SocketError(call: "recv") }
            return Array(reply.prefix(got))
        }
    }
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
    var triple: (Int32, UInt32, UInt32) = (0, 0, 0)
    var length = socklen_t(MemoryLayout.size(ofValue: triple))
    guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &triple, &length) == 0 else { throw SocketError(call: "getsockopt") }
    return PeerCredentials(pid: triple.0, uid: triple.1, gid: triple.2)
    #endif
}
