import SocketKit

// Every connection is a descriptor, on both ends. A process may hold only so many at once
// (RLIMIT_NOFILE, `ulimit -n`): often 1024 by default, the "soft" limit, which a process may
// raise by itself up to the "hard" limit its parent allows. A server or a load tool for a
// thousand clients needs more than 1024, so it raises its own soft limit first.

/// Raises this process's limit on open descriptors (the soft limit) as far as it may go
/// (the hard limit), and returns the limit now in force.
@discardableResult
public func raiseOpenFileLimit() throws -> Int {
    var limit = rlimit()
    guard getrlimit(openFilesResource, &limit) == 0 else { throw SocketError(call: "getrlimit") }
    let most = highestSoftLimit(hard: limit.rlim_max)
    if limit.rlim_cur < most {
        limit.rlim_cur = most
        guard setrlimit(openFilesResource, &limit) == 0 else { throw SocketError(call: "setrlimit") }
    }
    return limit.rlim_cur >= rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
}

#if canImport(Darwin)
private let openFilesResource = RLIMIT_NOFILE

/// macOS refuses a soft limit above OPEN_MAX (10240), even when the hard limit is "unlimited".
private func highestSoftLimit(hard: rlim_t) -> rlim_t { min(hard, rlim_t(OPEN_MAX)) }
#else
// Glibc imports the resource names as an enum; the calls take its raw value.
private let openFilesResource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)

private func highestSoftLimit(hard: rlim_t) -> rlim_t { hard }
#endif

/// Makes `fd` non-blocking (a call that would wait fails with EAGAIN instead), or blocking
/// again. Lesson 6 teaches it (setBlocking); this is the demos' own copy.
public func setNonBlocking(_ fd: Int32, _ nonBlocking: Bool) throws {
    let flags = fcntl(fd, F_GETFL)
    guard flags >= 0 else { throw SocketError(call: "fcntl") }
    let wanted = nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
    guard wanted == flags || fcntl(fd, F_SETFL, wanted) == 0 else { throw SocketError(call: "fcntl") }
}

/// A new pipe: bytes written to `write` come out of `read`, in order. The demos use one to
/// wake a `poll` (the servers' stop pipe) and to hand a learner's code an input of the
/// demo's making (the chat client's).
public func makePipe() throws -> (read: Int32, write: Int32) {
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else { throw SocketError(call: "pipe") }
    return (ends[0], ends[1])
}
