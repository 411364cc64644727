import Foundation
import GradingHarness
import SocketKit

/// Inputs and observations for lesson 6's checks (socket options). Everything here reads the
/// kernel directly; nothing relies on what the learner's code says.
enum OptionsLesson {
    // MARK: Inputs

    /// A loopback address other than 127.0.0.1 (all of 127.0.0.0/8 is loopback on Linux),
    /// drawn from the check's generator, so no answer can hard-code it.
    static func loopbackIPv4(_ random: SeededGenerator) -> String {
        "127.\(random.int(in: 1...254)).\(random.int(in: 0...255)).\(random.int(in: 1...254))"
    }

    static func address(_ host: String, _ port: UInt16 = 0) -> SocketAddress {
        DrivenConnection.address(host, port)
    }

    /// A stale errno for a call that should succeed: a value none of this lesson's calls
    /// produces on its own, so an answer that throws it was reading errno after a success.
    static func staleErrno(_ random: SeededGenerator) -> Int32 {
        StaleErrno(random, from: [ENOENT, ENOSPC, EHOSTUNREACH, EIO]).code
    }

    /// The hint for an error thrown by a call that should have succeeded: `stale` when the
    /// error carries the errno the harness left behind before the call, else `otherwise`.
    static func errorHint(stale: Int32, _ otherwise: @escaping (any Error) -> Hint?) -> (any Error) -> Hint? {
        { error in
            if let error = error as? SocketError, error.code == stale { return OptionsHints.staleErrno }
            return otherwise(error)
        }
    }

    // MARK: Reading the kernel

    /// A timeout option (SO_RCVTIMEO / SO_SNDTIMEO) in seconds, read with getsockopt.
    static func timeoutOption(_ fd: Int32, _ name: Int32) throws -> Double {
        var time = timeval()
        var length = socklen_t(MemoryLayout<timeval>.size)
        guard getsockopt(fd, SOL_SOCKET, name, &time, &length) == 0 else { throw SocketError(call: "getsockopt") }
        return Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000
    }

    /// Sets a timeout option directly, as the harness (not the learner) chooses it.
    static func setTimeoutOption(_ fd: Int32, _ name: Int32, seconds: Int, microseconds: Int) throws {
        var time = timeval(tv_sec: .init(seconds), tv_usec: .init(microseconds))
        guard setsockopt(fd, SOL_SOCKET, name, &time, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw SocketError(call: "setsockopt")
        }
    }

    /// The descriptor's status flags (fcntl F_GETFL).
    static func flags(_ fd: Int32) -> Int32 { fcntl(fd, F_GETFL) }

    /// "O_RDWR | O_APPEND | O_NONBLOCK (0x...)": a flags word as a reader knows it.
    static func describeFlags(_ flags: Int32) -> String {
        guard flags >= 0 else { return "fcntl failed" }
        var names: [String] = []
        let access = flags & O_ACCMODE
        names.append(access == O_RDWR ? "O_RDWR" : access == O_WRONLY ? "O_WRONLY" : "O_RDONLY")
        for (bit, name) in [(O_APPEND, "O_APPEND"), (O_ASYNC, "O_ASYNC"), (O_NONBLOCK, "O_NONBLOCK")] where flags & bit != 0 {
            names.append(name)
        }
        let known = O_ACCMODE | O_APPEND | O_ASYNC | O_NONBLOCK
        if flags & ~known != 0 { names.append("0x\(String(flags & ~known, radix: 16))") }
        return names.joined(separator: " | ") + " (0x\(String(flags, radix: 16)))"
    }

    /// The listen backlog the kernel keeps for a listener (Linux: TCP_INFO's tcpi_sacked),
    /// or nil where it cannot be read.
    static func backlog(of fd: Int32) -> Int32? {
        #if os(Linux)
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0, info.tcpi_state == 10 else { return nil }
        return Int32(bitPattern: info.tcpi_sacked)
        #else
        return nil
        #endif
    }

    /// How many TCP sockets of this machine are still trying to connect (SYN_SENT) to `port`
    /// (Linux: /proc/net/tcp and tcp6). 0 where it cannot be read.
    static func connectsInProgress(toPort port: UInt16) -> Int {
        #if os(Linux)
        let wanted = String(format: ":%04X", port)
        var count = 0
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 3 else { continue }
                if fields[2].hasSuffix(wanted) && fields[3] == "02" { count += 1 }
            }
        }
        return count
        #else
        return 0
        #endif
    }

    /// How many times the calling thread has gone to sleep (voluntary context switches,
    /// Linux: /proc/thread-self/status), or nil where it cannot be read. A call that waits in
    /// poll, connect or recv sleeps at least once; a loop that never waits never does, however
    /// little processor time a crowded machine gives it.
    static func voluntarySwitches() -> Int? {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches:") {
            return Int(line.dropFirst("voluntary_ctxt_switches:".count).trimmingCharacters(in: .whitespaces))
        }
        #endif
        return nil
    }

    /// Waits until `count` bytes are queued for reading on `fd` (peeked, not consumed).
    static func waitQueued(_ fd: Int32, count: Int, seconds: Double) -> Bool {
        let deadline = Clock.now + seconds
        var buffer = [UInt8](repeating: 0, count: count)
        while Clock.now < deadline {
            guard Inspect.waitReadable(fd, seconds: max(0, deadline - Clock.now)) else { return false }
            let queued = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, count, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)) }
            if queued >= count { return true }
            if queued == 0 { return false }
            usleep(1000)
        }
        return false
    }

    // MARK: Options around the one a setter should change

    /// An option the harness watches while a setter runs, so that a wrong answer's effect
    /// can be named: "it changed SO_REUSEPORT instead".
    struct WatchedOption: Hashable, CustomStringConvertible {
        let level: Int32
        let name: Int32
        let label: String
        var description: String { label }
    }

    /// The flag-like options at the socket and TCP levels (and IP_TOS / IP_TTL), by number.
    /// Linux numbers; elsewhere only the three this lesson sets.
    static func watchedOptions(family: AddressFamily) -> [WatchedOption] {
        #if os(Linux)
        let tcp = Int32(IPPROTO_TCP)
        var options: [WatchedOption] = [
            .init(level: SOL_SOCKET, name: 1, label: "SO_DEBUG (level SOL_SOCKET)"),
            .init(level: SOL_SOCKET, name: 2, label: "SO_REUSEADDR (level SOL_SOCKET)"),
            .init(level: SOL_SOCKET, name: 5, label: "SO_DONTROUTE (level SOL_SOCKET)"),
            .init(level: SOL_SOCKET, name: 6, label: "SO_BROADCAST (level SOL_SOCKET)"),
            .init(level: SOL_SOCKET, name: 9, label: "SO_KEEPALIVE (level SOL_SOCKET)"),
            .init(level: SOL_SOCKET, name: 10, label: "SO_OOBINLINE (level SOL_SOCKET)"),
            .init(level: SOL_SOCKET, name: 15, label: "SO_REUSEPORT (level SOL_SOCKET)"),
            .init(level: tcp, name: 1, label: "TCP_NODELAY (level IPPROTO_TCP)"),
            .init(level: tcp, name: 2, label: "TCP_MAXSEG (level IPPROTO_TCP)"),
            .init(level: tcp, name: 3, label: "TCP_CORK (level IPPROTO_TCP)"),
            .init(level: tcp, name: 4, label: "TCP_KEEPIDLE (level IPPROTO_TCP)"),
            .init(level: tcp, name: 5, label: "TCP_KEEPINTVL (level IPPROTO_TCP)"),
            .init(level: tcp, name: 6, label: "TCP_KEEPCNT (level IPPROTO_TCP)"),
            .init(level: tcp, name: 7, label: "TCP_SYNCNT (level IPPROTO_TCP)"),
            .init(level: tcp, name: 9, label: "TCP_DEFER_ACCEPT (level IPPROTO_TCP)"),
            .init(level: tcp, name: 10, label: "TCP_WINDOW_CLAMP (level IPPROTO_TCP)"),
        ]
        if family == .inet {
            options += [
                .init(level: Int32(IPPROTO_IP), name: 1, label: "IP_TOS (level IPPROTO_IP)"),
                .init(level: Int32(IPPROTO_IP), name: 2, label: "IP_TTL (level IPPROTO_IP)"),
            ]
        }
        return options
        #else
        return [
            .init(level: SOL_SOCKET, name: SO_REUSEADDR, label: "SO_REUSEADDR (level SOL_SOCKET)"),
            .init(level: SOL_SOCKET, name: SO_KEEPALIVE, label: "SO_KEEPALIVE (level SOL_SOCKET)"),
            .init(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, label: "TCP_NODELAY (level IPPROTO_TCP)"),
        ]
        #endif
    }

    /// TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT (Linux numbers): keepalive's timing, which a
    /// setKeepAlive may tune along with SO_KEEPALIVE.
    static let keepaliveTuning: [Int32] = [4, 5, 6]

    /// The current values of `options` on `fd` (those that can be read).
    static func snapshot(_ fd: Int32, _ options: [WatchedOption]) -> [WatchedOption: Int32] {
        var values: [WatchedOption: Int32] = [:]
        for option in options {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(fd, option.level, option.name, &value, &length) == 0 { values[option] = value }
        }
        return values
    }

    /// The options whose value differs between two snapshots, except the one at (level, name).
    static func changed(
        _ before: [WatchedOption: Int32], _ after: [WatchedOption: Int32], except level: Int32, _ name: Int32
    ) -> [WatchedOption] {
        after.keys.filter { !($0.level == level && $0.name == name) && before[$0] != after[$0] }
            .sorted { ($0.level, $0.name) < ($1.level, $1.name) }
    }

    /// What the kernel makes of setsockopt SO_RCVBUF = receive and SO_SNDBUF = send, asked on a
    /// fresh socket of the harness's own: the sizes a correct answer reads back.
    static func bufferSizesChosen(family: AddressFamily, receive: Int32, send: Int32) throws -> (receive: Int32, send: Int32) {
        let socket = try HarnessSocket.make(family)
        defer { socket.close() }
        try socket.setOption(SOL_SOCKET, SO_RCVBUF, receive, "SO_RCVBUF")
        try socket.setOption(SOL_SOCKET, SO_SNDBUF, send, "SO_SNDBUF")
        return (try Inspect.intOption(socket.fd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"), try Inspect.intOption(socket.fd, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"))
    }

    /// The errno setsockopt gives for `name` set to 1 at `level` on a fresh socket (0 when
    /// it succeeds): what a wrong level gets the learner, for comparison.
    static func setsockoptOutcome(family: AddressFamily, level: Int32, name: Int32) -> Int32 {
        guard let socket = try? HarnessSocket.make(family) else { return -1 }
        defer { socket.close() }
        var one: Int32 = 1
        return setsockopt(socket.fd, level, name, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 ? 0 : errno
    }

    // MARK: Sockets the harness makes

    /// A harness socket bound to `host`, port 0, that never listens: connecting to its address
    /// is refused at once, and nobody else can start listening there meanwhile.
    static func closedPort(host: String) throws -> (holder: HarnessSocket, address: SocketAddress) {
        let address = Self.address(host)
        let socket = try HarnessSocket.make(address.family)
        try address.withSockAddr { pointer, length in
            guard bind(socket.fd, pointer, length) == 0 else { throw SocketError(call: "bind") }
        }
        return (socket, try socket.localAddress)
    }
}

/// The sleeps a learner's call made, recorded from inside its own thread.
final class OptionsSleeps: @unchecked Sendable {
    private let lock = NSLock()
    private var counted: Int?

    /// Runs `body`, counting the voluntary context switches of this thread meanwhile.
    func count<T>(_ body: () throws -> T) rethrows -> T {
        let before = OptionsLesson.voluntarySwitches()
        defer {
            let after = OptionsLesson.voluntarySwitches()
            lock.withLock { counted = before.flatMap { b in after.map { $0 - b } } }
        }
        return try body()
    }

    /// nil when the count could not be read.
    var value: Int? { lock.withLock { counted } }
}

/// Lesson 6's own hints. (The older ones, whose ids known-bad answers expect, are in the
/// grader file's `extension Hint`.)
enum OptionsHints {
    static let staleErrno = Hint("stale-errno", "errno means something only right after a call returned -1: a call that succeeds leaves whatever an earlier failure put there. Decide success by the value the call returned (0, -1, the count), and read errno only when it says -1.")
    static let optionToggle = Hint("option-toggle", "Set the value you were given: 1 for true, 0 for false. Flipping the current value (or setting it only when it looks different) turns an option off when it was asked to be on twice.")
    static func optionName(_ set: String, instead changed: String) -> Hint {
        Hint("option-name", "The call changed \(changed) instead of \(set): check the option's name and level. Each option has its own constant; options that sound alike (SO_REUSEADDR and SO_REUSEPORT) are different options.")
    }
    static func optionName(_ set: String, also changed: String) -> Hint {
        Hint("option-name", "The call changed \(changed) as well as \(set): set only the option the function names. Options that sound alike (SO_REUSEADDR and SO_REUSEPORT) do different things; SO_REUSEPORT lets another socket bind the same port and take a share of its connections.")
    }
    static let bufferBoth = Hint("buffer-both", "Set both buffers: SO_RCVBUF to `receive` and SO_SNDBUF to `send`, two setsockopt calls, each with its own value.")
    static let bufferAsked = Hint("buffer-asked", "Ask for exactly the sizes given: setsockopt SO_RCVBUF with `receive` and SO_SNDBUF with `send`. Don't halve them to make up for the doubling, or adjust them in any way: the kernel does its own doubling and clamping, and you report what it chose.")
    static let bufferSwapped = Hint("buffer-swapped", "`receive` goes into SO_RCVBUF and `send` into SO_SNDBUF: the sizes were crossed over.")
    static let bufferOrder = Hint("buffer-order", "Return (receive: what SO_RCVBUF reads back, send: what SO_SNDBUF reads back), in that order.")
    static let timevalRange = Hint("timeval-range", "tv_usec must stay under 1,000,000: whole seconds go in tv_sec and only the fraction in tv_usec (1.5 s is tv_sec 1, tv_usec 500000). setsockopt refuses a larger tv_usec with EDOM.")
    static let timevalPrecision = Hint("timeval-precision", "tv_usec counts microseconds: 0.0004 s is tv_usec 400. Rounding to milliseconds (or to whole seconds) turns a short timeout into all zeros, and all zeros means no timeout at all: the call would wait forever.")
    static let timeoutNil = Hint("timeout-nil", "nil means no timeout: set an all-zero timeval as both SO_RCVTIMEO and SO_SNDTIMEO, so a timeout set before is cleared. Returning without a call leaves the old timeout in place.")
    static let gettimeoutReceive = Hint("gettimeout-rcvtimeo", "timeout(of:) reads SO_RCVTIMEO (the receive timeout), not SO_SNDTIMEO: the two can differ when someone else set them.")
    static let gettimeoutKernel = Hint("gettimeout-kernel", "Ask the kernel with getsockopt(SO_RCVTIMEO) each time: the timeout may have been set by other code, and the kernel rounds it to its clock ticks. A value remembered from setTimeout is not the socket's.")
    static let keepFlags = Hint("keep-flags", "F_SETFL replaces all the status flags at once. Read them with F_GETFL, add O_NONBLOCK with | or remove it with & ~O_NONBLOCK, and write that back, so flags like O_APPEND or O_ASYNC that were on stay on.")
    static let blockingToggle = Hint("blocking-toggle", "setBlocking sets a mode; it does not flip one. Asked for the mode the socket already has, it must leave O_NONBLOCK as it is: use flags | O_NONBLOCK or flags & ~O_NONBLOCK, not flags ^ O_NONBLOCK.")
    static let blockingInverted = Hint("blocking-inverted", "setBlocking(fd, true) means blocking, so O_NONBLOCK off; setBlocking(fd, false) turns O_NONBLOCK on. The meaning was the other way round.")
    static let maxSize = Hint("max-size", "Receive into a buffer of maxSize bytes and return what recv put there: no more than maxSize, and all of what had arrived up to that size. The rest stays queued for the next call.")
    static let countReturned = Hint("count-returned", "Return only the bytes recv wrote: the first `count` bytes of the buffer, where `count` is what recv returned. The rest of the buffer never came over the wire.")
    static let recvZero = Hint("recv-zero", "recv returning 0 means the peer closed its side: return [] (an empty array) for that, and nil only for EAGAIN / EWOULDBLOCK.")
    static let otherErrors = Hint("other-errors", "Only EAGAIN and EWOULDBLOCK mean \"nothing yet\". Any other errno (EBADF, ENOTCONN, ECONNRESET...) is a real failure: throw SocketError for it instead of returning nil or [].")
    static let waits = Hint("receive-waits", "receiveIfReady must answer at once: it is for a non-blocking socket, where recv returns -1 with EAGAIN when nothing is there. Don't poll or sleep before recv.")
    static let acceptConn = Hint("acceptconn", "Ask the kernel: getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, ...) reads 1 for a listener and 0 for any other socket, bound, connected or UDP. Having a local address is not listening.")
    static let getpeername = Hint("getpeername", "The peer is the other end: getpeername, not getsockname (which gives this socket's own address).")
    static let peerStorage = Hint("peer-storage", "Give getpeername a sockaddr_storage with its full size, so an IPv6 address (28 bytes) fits, and build the result with SocketAddress(storage:length:) from the length it returned.")
    static let peerByteOrder = Hint("peer-byte-order", "The port in a sockaddr is in network byte order: UInt16(bigEndian: sin.sin_port), or let SocketAddress(storage:length:) read it.")
    static let listenerBacklog = Hint("listen-backlog", "Pass the backlog you were given to listen(fd, backlog): it is how many finished connections the kernel may queue for accept.")
    static let returnedClosed = Hint("returned-closed", "The descriptor was closed before it was returned (a defer { close(fd) } runs on success too). Close only on the failure path.")
    static let bindAddress = Hint("bind-address", "Bind the address you were given (address.withSockAddr { bind(fd, $0, $1) }), host and port. Any 127.x.y.z is loopback, not only 127.0.0.1.")
    static let reusePort = Hint("reuse-port", "SO_REUSEPORT is another option (it lets several sockets share a port). A restarted server needs SO_REUSEADDR, set to 1 before bind.")
    static let pollMilliseconds = Hint("poll-milliseconds", "poll's timeout is in milliseconds: Int32(timeout * 1000). Int32(timeout) * 1000 turns 0.3 s into 0 (no wait), and rounding up to whole seconds waits far too long.")
    static let timedOutCode = Hint("timedout-code", "poll returning 0 means the time ran out, and it sets no errno: what errno holds then is connect's old EINPROGRESS. Say the reason yourself: throw SocketError(call: \"connect\", code: ETIMEDOUT).")
    static let connectSpin = Hint("connect-spin", "Waiting for the connect must not use the processor: one poll(POLLOUT) with the remaining time sleeps in the kernel. A loop that calls connect or poll with a 0 timeout again and again spins.")
    static let refusedPromptly = Hint("refused-promptly", "A refused connect finishes at once: poll reports the socket writable (with POLLERR) straight away, and SO_ERROR says ECONNREFUSED. Throw it then; don't wait out the timeout or try again.")
    static let halfOpen = Hint("half-open", "When the time is up, close the socket before you throw: an open socket keeps its connect going in the background, and the server may still accept it later.")
    static let pollOut = Hint("pollout", "A connect that finishes makes the socket writable: poll for POLLOUT. POLLIN waits for data, and a server that says nothing first never sends any, so the wait runs out although the connection was made.")
    static let leftoverTimeout = Hint("leftover-timeout", "Whatever bounded the connect must not stay on the socket you return: clear SO_SNDTIMEO / SO_RCVTIMEO (an all-zero timeval) before returning, or the caller's later recv and send give up after that time.")
    static let connectedElsewhere = Hint("connected-elsewhere", "Connect the socket to the address you were given, in its family: the socket returned must read back that peer (getpeername).")
}
