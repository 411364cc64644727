import SocketKit

/// Questions the graders ask the kernel about a descriptor, whoever owns it.
///
/// Graders never trust what the learner's code says about a socket: they read it back
/// with these. Each one is a thin, checked system call.
public enum Inspect {
    /// True when `fd` is an open descriptor (of any kind).
    public static func isOpen(_ fd: Int32) -> Bool {
        fcntl(fd, F_GETFD) != -1
    }

    /// Which open file `fd` names (device and inode), or nil when it is not open. Unlike
    /// the number, this tells one socket from the next one that reuses the number.
    public static func identity(_ fd: Int32) -> [UInt64]? {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        return [UInt64(truncatingIfNeeded: status.st_dev), UInt64(truncatingIfNeeded: status.st_ino)]
    }

    /// True when `fd` is an open socket.
    public static func isSocket(_ fd: Int32) -> Bool {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return false }
        return (status.st_mode & S_IFMT) == S_IFSOCK
    }

    /// An integer socket option: `getsockopt(fd, level, name)`.
    public static func intOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ label: String) throws(SocketError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, level, name, &value, &length) == 0 else {
            throw SocketError(call: "getsockopt(\(label))")
        }
        return value
    }

    public static func type(_ fd: Int32) throws(SocketError) -> SocketType {
        SocketType(rawValue: try intOption(fd, SOL_SOCKET, SO_TYPE, "SO_TYPE"))
    }

    /// The socket's family: SO_DOMAIN on Linux, the family of its local address elsewhere.
    public static func family(_ fd: Int32) throws(SocketError) -> AddressFamily {
        #if os(Linux)
        return AddressFamily(rawValue: try intOption(fd, SOL_SOCKET, SO_DOMAIN, "SO_DOMAIN"))
        #else
        return try localAddress(fd).family
        #endif
    }

    /// True when `listen` has been called on the socket.
    public static func isListening(_ fd: Int32) throws(SocketError) -> Bool {
        try intOption(fd, SOL_SOCKET, SO_ACCEPTCONN, "SO_ACCEPTCONN") != 0
    }

    /// `getsockname`: the socket's own address.
    public static func localAddress(_ fd: Int32) throws(SocketError) -> SocketAddress {
        try address(fd, "getsockname") { getsockname(fd, $0, $1) }
    }

    /// `getpeername`: the address of the other end of a connected socket.
    public static func peerAddress(_ fd: Int32) throws(SocketError) -> SocketAddress {
        try address(fd, "getpeername") { getpeername(fd, $0, $1) }
    }

    private static func address(
        _ fd: Int32, _ call: String, _ body: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) throws(SocketError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, &length) }
        }
        guard result == 0 else { throw SocketError(call: call) }
        return try SocketAddress(storage: storage, length: length)
    }

    /// A one-line description for messages: "a TCP socket listening on 127.0.0.1:40211".
    public static func describe(_ fd: Int32) -> String {
        guard isOpen(fd) else { return "descriptor \(fd), which is not open" }
        guard isSocket(fd) else { return "descriptor \(fd), which is not a socket" }
        let type = (try? Self.type(fd)).map { $0 == .stream ? "TCP" : $0 == .datagram ? "UDP" : $0.description } ?? "unknown"
        let kind = (try? family(fd)) == .unix ? "Unix \(type == "TCP" ? "stream" : "datagram")" : type
        let local = (try? localAddress(fd)).map(String.init(describing:)) ?? "?"
        if (try? isListening(fd)) == true { return "fd \(fd): a \(kind) socket listening on \(local)" }
        if let peer = try? peerAddress(fd) { return "fd \(fd): a \(kind) socket connected from \(local) to \(peer)" }
        return "fd \(fd): a \(kind) socket, local address \(local)"
    }

    /// Waits until `fd` is readable (data, end-of-file or an error) or `seconds` pass.
    /// Returns false on timeout.
    public static func waitReadable(_ fd: Int32, seconds: Double) -> Bool {
        poll(fd, events: Int16(POLLIN), seconds: seconds)
    }

    public static func waitWritable(_ fd: Int32, seconds: Double) -> Bool {
        poll(fd, events: Int16(POLLOUT), seconds: seconds)
    }

    private static func poll(_ fd: Int32, events: Int16, seconds: Double) -> Bool {
        let deadline = Clock.now + seconds
        while true {
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let remaining = max(0, Int32((deadline - Clock.now) * 1000))
            let ready = SocketKit.poll(&entry, 1, remaining)
            if ready > 0 { return true }
            if ready == 0 || errno != EINTR { return false }
        }
    }

    /// Connects `fd` to `address` (bound to `host` first, when given), waiting at most
    /// `seconds`: on loopback a connect usually finishes or fails at once, but a listener
    /// with a full queue would leave a blocking connect waiting for minutes, so this one
    /// is non-blocking, waited for with poll, and judged by SO_ERROR. `fd`'s flags are put
    /// back as they were.
    public static func connect(_ fd: Int32, to address: SocketAddress, from host: SocketAddress? = nil, seconds: Double) throws {
        if let host {
            try host.withSockAddr { pointer, length in
                guard bind(fd, pointer, length) == 0 else { throw SocketError(call: "bind") }
            }
        }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { throw SocketError(call: "fcntl") }
        let started = try address.withSockAddr { pointer, length in SocketKit.connect(fd, pointer, length) }
        if started != 0 {
            guard errno == EINPROGRESS else { throw SocketError(call: "connect") }
            guard waitWritable(fd, seconds: seconds) else { throw SocketError(call: "connect", code: ETIMEDOUT) }
            let failure = try intOption(fd, SOL_SOCKET, SO_ERROR, "SO_ERROR")
            guard failure == 0 else { throw SocketError(call: "connect", code: failure) }
        }
        guard fcntl(fd, F_SETFL, flags) == 0 else { throw SocketError(call: "fcntl") }
    }

    /// Reads what is there (up to `limit` bytes), waiting at most `seconds` for the first
    /// byte. Returns nil on timeout, [] on end-of-file.
    public static func receive(_ fd: Int32, limit: Int = 65536, seconds: Double) throws(SocketError) -> [UInt8]? {
        guard waitReadable(fd, seconds: seconds) else { return nil }
        var buffer = [UInt8](repeating: 0, count: limit)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, limit, 0) }
        guard count >= 0 else { throw SocketError(call: "recv") }
        return Array(buffer.prefix(count))
    }
}

/// Seconds on a monotonic clock, for deadlines.
public enum Clock {
    public static var now: Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
