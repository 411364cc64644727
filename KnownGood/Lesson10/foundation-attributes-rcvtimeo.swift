// Known-good: the stale check asks FileManager (attributesOfItem does not follow links) and probes with SocketKit's SocketAddress.unix, bounded by SO_SNDTIMEO; the umask guarded by a pthread mutex; the datagram reply waited for with SO_RCVTIMEO and read with MSG_TRUNC into a byte array; the credentials read into 12 raw bytes and loaded field by field.
// Lesson 10: Unix domain sockets.
import Foundation
import SocketKit

nonisolated(unsafe) private var maskMutex = pthread_mutex_t()
private let maskMutexReady: Bool = { pthread_mutex_init(&maskMutex, nil) == 0 }()

private func checkLength(_ path: String) throws {
    if path.utf8.count > unixPathCapacity - 1 { throw UnixPathTooLong(path: path) }
}

private func isStale(_ path: String) -> Bool {
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
          attributes[.type] as? FileAttributeType == .typeSocket else { return false }
    let probe = socket(AF_UNIX, SocketType.stream.rawValue, 0)
    if probe < 0 { return false }
    defer { close(probe) }
    // A Unix connect waits at most SO_SNDTIMEO for a busy server's queue, then fails with EAGAIN.
    var brief = timeval(tv_sec: 0, tv_usec: 50_000)
    if setsockopt(probe, SOL_SOCKET, SO_SNDTIMEO, &brief, socklen_t(MemoryLayout<timeval>.size)) != 0 { return false }
    let result = (try? SocketAddress.unix(path: path).withSockAddr { connect(probe, $0, $1) }) ?? 0
    return result == -1 && errno == ECONNREFUSED
}

private func bindMasked(_ fd: Int32, _ path: String, _ permissions: mode_t) throws -> SocketError? {
    _ = maskMutexReady
    pthread_mutex_lock(&maskMutex)
    defer { pthread_mutex_unlock(&maskMutex) }
    let old = umask(~permissions & 0o777)
    let result = try SocketAddress.unix(path: path).withSockAddr { bind(fd, $0, $1) }
    let failure = result == 0 ? nil : SocketError(call: "bind")
    umask(old)
    return failure
}

public func makeUnixListener(path: String, backlog: Int32 = 16, permissions: mode_t = 0o600) throws -> Int32 {
    try checkLength(path)
    let fd = socket(AF_UNIX, SocketType.stream.rawValue, 0)
    if fd < 0 { throw SocketError(call: "socket") }
    var made = false
    do {
        if var failure = try bindMasked(fd, path, permissions) {
            if failure.code == EADDRINUSE && isStale(path) {
                if unlink(path) != 0 && errno != ENOENT { throw SocketError(call: "unlink") }
                if let again = try bindMasked(fd, path, permissions) { failure = again } else { made = true }
            }
            if !made { throw failure }
        }
        made = true
        if listen(fd, backlog) != 0 { throw SocketError(call: "listen") }
    } catch {
        if made { unlink(path) }
        close(fd)
        throw error
    }
    return fd
}

public func closeUnixListener(_ listener: Int32, path: String) throws {
    var failure: SocketError?
    if unlink(path) != 0 { failure = SocketError(call: "unlink") }
    if close(listener) != 0 && failure == nil { failure = SocketError(call: "close") }
    if let failure { throw failure }
}

public func connectUnix(path: String) throws -> Int32 {
    try checkLength(path)
    let fd = socket(AF_UNIX, SocketType.stream.rawValue, 0)
    if fd < 0 { throw SocketError(call: "socket") }
    let result = try SocketAddress.unix(path: path).withSockAddr { connect(fd, $0, $1) }
    if result != 0 {
        let failure = SocketError(call: "connect")
        close(fd)
        throw failure
    }
    return fd
}

public func unixDatagramRequest(_ request: [UInt8], to serverPath: String, from clientPath: String, timeout: Double) throws -> [UInt8] {
    try checkLength(serverPath)
    try checkLength(clientPath)
    let fd = socket(AF_UNIX, SocketType.datagram.rawValue, 0)
    if fd < 0 { throw SocketError(call: "socket") }
    defer { close(fd) }
    if try SocketAddress.unix(path: clientPath).withSockAddr({ bind(fd, $0, $1) }) != 0 { throw SocketError(call: "bind") }
    defer { unlink(clientPath) }
    let whole = timeout.rounded(.down)
    var limit = timeval(tv_sec: Int(whole), tv_usec: max(1, Int(((timeout - whole) * 1_000_000).rounded(.up))))
    if setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size)) != 0 { throw SocketError(call: "setsockopt") }
    let sent = try SocketAddress.unix(path: serverPath).withSockAddr { address, length in
        request.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, address, length) }
    }
    if sent < 0 { throw SocketError(call: "sendto") }
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_TRUNC)) }
        if count >= 0 { return Array(buffer[0..<min(count, buffer.count)]) }
        if errno == EINTR { continue }
        if errno == EAGAIN || errno == EWOULDBLOCK { throw SocketError(call: "recv", code: ETIMEDOUT) }
        throw SocketError(call: "recv")
    }
}

public func peerCredentials(of fd: Int32) throws -> PeerCredentials {
    #if canImport(Darwin)
    var uid: uid_t = 0
    var gid: gid_t = 0
    if getpeereid(fd, &uid, &gid) != 0 { throw SocketError(call: "getpeereid") }
    var pid: pid_t = 0
    var size = socklen_t(MemoryLayout<pid_t>.size)
    if getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &size) != 0 { throw SocketError(call: "getsockopt") }
    return PeerCredentials(pid: pid, uid: uid, gid: gid)
    #else
    var raw = [UInt8](repeating: 0, count: 12)
    var size = socklen_t(12)
    let result = raw.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, SO_PEERCRED, $0.baseAddress, &size) }
    if result != 0 { throw SocketError(call: "getsockopt") }
    return raw.withUnsafeBytes {
        PeerCredentials(pid: $0.loadUnaligned(fromByteOffset: 0, as: Int32.self),
                        uid: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self),
                        gid: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
    }
    #endif
}
