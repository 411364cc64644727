// What lesson 10 (Unix domain sockets) shares between the exercise, the graders and the
// demo: the size of sockaddr_un's path, the error for a path that does not fit, and the
// peer's credentials.

/// How many bytes `sockaddr_un.sun_path` holds on this system, the terminating NUL
/// included: 108 on Linux, 104 on macOS. A path may use one byte less than this.
public let unixPathCapacity: Int = MemoryLayout.size(ofValue: sockaddr_un().sun_path)

/// A socket path too long for `sockaddr_un.sun_path`. Thrown before anything is created:
/// the kernel would otherwise use a shortened path, or a path with no terminating NUL.
public struct UnixPathTooLong: Error, Hashable, Sendable, CustomStringConvertible {
    /// The path that was asked for.
    public let path: String
    /// The most bytes a path may have here (`unixPathCapacity - 1`: 107 on Linux, 103 on macOS).
    public let limit: Int

    public init(path: String, limit: Int = unixPathCapacity - 1) {
        self.path = path
        self.limit = limit
    }

    /// "socket path too long: 200 bytes, the limit is 107 (sun_path holds 108 with the terminating NUL)"
    public var description: String {
        "socket path too long: \(path.utf8.count) bytes, the limit is \(limit) (sun_path holds \(limit + 1) with the terminating NUL)"
    }
}

/// Who is at the other end of a connected Unix socket, as the kernel recorded it when the
/// connection was made (it cannot be forged by the peer).
public struct PeerCredentials: Hashable, Sendable, CustomStringConvertible {
    /// The peer's process id (0 when the system does not say).
    public let pid: Int32
    /// The peer's effective user id.
    public let uid: UInt32
    /// The peer's effective group id.
    public let gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "pid \(pid), uid \(uid), gid \(gid)" }
}
