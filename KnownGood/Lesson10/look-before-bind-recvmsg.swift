// Known-good: looks at the path before binding (lstat; a socket is probed with a non-blocking connect (fcntl O_NONBLOCK) and poll) and throws bind's EADDRINUSE itself; the address filled with memcpy into sun_path; the datagram exchange with sendmsg / recvmsg and an iovec; the credentials read into a temporary allocation; the umask behind an NSRecursiveLock.
// Lesson 10: Unix domain sockets.
import Foundation
import SocketKit

private let maskLock = NSRecursiveLock()

private func address(_ path: String) throws -> sockaddr_un {
    let count = path.utf8.count
    guard count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { throw UnixPathTooLong(path: path) }
    var result = sockaddr_un()
    result.sun_family = sa_family_t(AF_UNIX)
    _ = path.withCString { text in
        withUnsafeMutableBytes(of: &result.sun_path) { memcpy($0.baseAddress!, text, count) }
    }
    return result
}

private func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) throws -> T {
    var sun = try address(path)
    return withUnsafePointer(to: &sun) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
}

/// Something answers at `path` (or it is not a socket that was refused).
private func occupied(_ path: String) throws -> Bool {
    var info = stat()
    if lstat(path, &info) != 0 { return false }  // nothing there
    if info.st_mode & S_IFMT != S_IFSOCK { return true }
    let probe = socket(AF_UNIX, SocketType.stream.rawValue, 0)
    guard probe >= 0 else { throw SocketError(call: "socket") }
    defer { close(probe) }
    guard fcntl(probe, F_SETFL, fcntl(probe, F_GETFL) | O_NONBLOCK) == 0 else { throw SocketError(call: "fcntl") }
    if try withAddress(path, { connect(probe, $0, $1) }) == 0 { return true }
    if errno == ECONNREFUSED { return false }
    if errno == EAGAIN || errno == EINPROGRESS {
        var entry = pollfd(fd: probe, events: Int16(POLLOUT), revents: 0)
        _ = poll(&entry, 1, 100)
    }
    return true
}

public func makeUnixListener(path: String, backlog: Int32 = 16, permissions: mode_t = 0o600) throws -> Int32 {
    _ = try address(path)
    let fd = socket(AF_UNIX, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    var ours = false
    do {
        for attempt in 0..<2 {
            maskLock.lock()
            let before = umask(0o777 ^ (permissions & 0o777))
            let result = try withAddress(path) { bind(fd, $0, $1) }
            let code = errno
            umask(before)
            maskLock.unlock()
            if result == 0 { ours = true; break }
            guard code == EADDRINUSE, attempt == 0, try !occupied(path) else { throw SocketError(call: "bind", code: code) }
            if unlink(path) != 0 && errno != ENOENT { throw SocketError(call: "unlink") }
        }
        guard listen(fd, backlog) == 0 else { throw SocketError(call: "listen") }
        return fd
    } catch {
        if ours { unlink(path) }
        close(fd)
        throw error
    }
}

public func closeUnixListener(_ listener: Int32, path: String) throws {
    let unlinked = unlink(path)
    let unlinkError = unlinked == 0 ? nil : SocketError(call: "unlink")
    guard close(listener) == 0 else { throw SocketError(call: "close") }
    if let unlinkError { throw unlinkError }
}

public func connectUnix(path: String) throws -> Int32 {
    var sun = try address(path)
    let fd = socket(AF_UNIX, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    let result = withUnsafePointer(to: &sun) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
    guard result == 0 else {
        let failure = SocketError(call: "connect")
        close(fd)
        throw failure
    }
    return fd
}

public func unixDatagramRequest(_ request: [UInt8], to serverPath: String, from clientPath: String, timeout: Double) throws -> [UInt8] {
    var server = try address(serverPath)
    _ = try address(clientPath)
    let fd = socket(AF_UNIX, SocketType.datagram.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    defer { close(fd) }
    guard try withAddress(clientPath, { bind(fd, $0, $1) }) == 0 else { throw SocketError(call: "bind") }
    defer { unlink(clientPath) }
    var payload = request
    let sent = payload.withUnsafeMutableBytes { bytes in
        withUnsafeMutablePointer(to: &server) { name in
            var vector = iovec(iov_base: bytes.baseAddress, iov_len: bytes.count)
            return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                var message = msghdr()
                message.msg_name = UnsafeMutableRawPointer(name)
                message.msg_namelen = socklen_t(MemoryLayout<sockaddr_un>.size)
                message.msg_iov = vectorPointer
                message.msg_iovlen = 1
                return sendmsg(fd, &message, 0)
            }
        }
    }
    guard sent >= 0 else { throw SocketError(call: "sendto") }
    var start = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    let end = Double(start.tv_sec) + Double(start.tv_nsec) / 1e9 + timeout
    var reply = [UInt8](repeating: 0, count: 65_536)
    while true {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let left = end - (Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
        if left <= 0 { throw SocketError(call: "recv", code: ETIMEDOUT) }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, Int32(ceil(left * 1000)))
        if ready < 0 && errno != EINTR { throw SocketError(call: "poll") }
        if ready <= 0 { continue }
        let got = reply.withUnsafeMutableBytes { bytes -> Int in
            var vector = iovec(iov_base: bytes.baseAddress, iov_len: bytes.count)
            return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                var message = msghdr()
                message.msg_iov = vectorPointer
                message.msg_iovlen = 1
                return recvmsg(fd, &message, 0)
            }
        }
        guard got >= 0 else { throw SocketError(call: "recv") }
        return Array(reply[..<got])
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
    return try withUnsafeTemporaryAllocation(byteCount: 12, alignment: 4) { buffer in
        var length = socklen_t(buffer.count)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buffer.baseAddress, &length) == 0 else { throw SocketError(call: "getsockopt") }
        let words = buffer.bindMemory(to: UInt32.self)
        return PeerCredentials(pid: Int32(bitPattern: words[0]), uid: words[1], gid: words[2])
    }
    #endif
}
