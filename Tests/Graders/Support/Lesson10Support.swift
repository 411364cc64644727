import Foundation
import GradingHarness
import Lesson10
import SocketKit
import XCTest

// Lesson 10's tools: a fresh folder for each check's socket files, harness sockets at a path
// (listening, stale, datagram), a watch on the folder (inotify) that sees a chmod after bind,
// and a child process that connects to a path, as another user when the tests run as root.

/// A fresh folder under the temporary folder for one check's socket files. Removed, with
/// everything in it, by `remove()` (call it in a `defer`).
final class ScratchFolder {
    let path: String

    init() throws {
        var template = Array((Self.base + "/wb10-XXXXXX").replacingOccurrences(of: "//", with: "/").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw SocketError(call: "mkdtemp") }
        path = String(cString: made)
        // mkdtemp makes it 0700. Others may look inside (not write), so that a connect by
        // another user meets the socket file's own permissions, not the folder's.
        guard chmod(path, 0o755) == 0 else { throw SocketError(call: "chmod") }
    }

    /// The temporary folder, when every folder on the way to it lets others pass (o+x);
    /// otherwise /tmp. (`workbook check` gives each check a private TMPDIR, mode 0700: user
    /// nobody could not reach a socket file in it, whatever the file's own mode.)
    private static let base: String = {
        let temporary = NSTemporaryDirectory()
        var folder = ""
        for part in temporary.split(separator: "/") {
            folder += "/" + part
            var info = stat()
            guard stat(folder, &info) == 0, info.st_mode & S_IXOTH != 0 else { return "/tmp" }
        }
        return temporary
    }()

    /// A path in this folder for a socket: a seeded name, so that no answer can expect it.
    func socketPath(_ random: SeededGenerator, _ what: String = "s") -> String {
        "\(path)/\(what)-\(random.int(in: 1000...999_999)).sock"
    }

    /// A path in this folder of exactly `bytes` UTF-8 bytes; with `wide`, its name is made
    /// of "é" (two bytes, one character) so that counting characters is not counting bytes.
    func pathOfLength(_ bytes: Int, wide: Bool = false) -> String {
        var name = ""
        var left = bytes - path.utf8.count - 1
        while wide && left >= 3 {  // keep at least one ASCII byte for an odd count
            name += "é"
            left -= 2
        }
        name += String(repeating: "x", count: max(left, 0))
        return "\(path)/\(name)"
    }

    /// The names in the folder now.
    var entries: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// What `lstat` says about a path (nil when nothing is there).
struct FileFacts: Equatable {
    let inode: UInt64
    let type: mode_t
    let mode: mode_t

    static func of(_ path: String) -> FileFacts? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return FileFacts(inode: UInt64(info.st_ino), type: info.st_mode & S_IFMT, mode: info.st_mode & 0o7777)
    }

    var kind: String {
        switch type {
        case S_IFSOCK: return "a socket file"
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a directory"
        case S_IFLNK: return "a symbolic link"
        default: return "a file of type \(String(type, radix: 8))"
        }
    }
}

enum UnixPeers {
    /// A harness socket of `type` bound to `path` (listening, when it is a stream socket).
    static func bound(_ path: String, _ type: SocketType = .stream, backlog: Int32 = 8) throws -> HarnessSocket {
        let socket = try HarnessSocket.make(.unix, type)
        try SocketAddress.unix(path: path).withSockAddr { address, length in
            guard bind(socket.fd, address, length) == 0 else { throw SocketError(call: "bind") }
        }
        if type == .stream { guard listen(socket.fd, backlog) == 0 else { throw SocketError(call: "listen") } }
        return socket
    }

    /// A stale socket file at `path`: a server bound it, then closed without removing it.
    static func leaveStale(_ path: String, _ type: SocketType = .stream) throws {
        try bound(path, type).close()
    }

    /// Connects a harness socket to `path`, bounded.
    static func connect(_ path: String, seconds: Double = 1) throws -> HarnessSocket {
        let socket = try HarnessSocket.make(.unix)
        try Inspect.connect(socket.fd, to: .unix(path: path), seconds: seconds)
        return socket
    }

    /// Accepts one connection on `listener` (not the harness's own), waiting at most
    /// `seconds`; nil on timeout. The caller closes it.
    static func accept(_ listener: Int32, seconds: Double) -> Int32? {
        guard Inspect.waitReadable(listener, seconds: seconds) else { return nil }
        let fd = SocketKit.accept(listener, nil, nil)
        return fd >= 0 ? fd : nil
    }

    /// Receives one datagram on `socket`, waiting at most `seconds` (nil on timeout), with
    /// its sender: nil when the sender is not bound (Linux gives no address at all then).
    static func receiveDatagram(_ socket: HarnessSocket, seconds: Double) -> (bytes: [UInt8], sender: SocketAddress?)? {
        guard Inspect.waitReadable(socket.fd, seconds: seconds) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = buffer.withUnsafeMutableBytes { raw in
            withUnsafeMutablePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(socket.fd, raw.baseAddress, raw.count, 0, $0, &length) }
            }
        }
        guard got >= 0 else { return nil }
        let sender = length > 0 ? try? SocketAddress(storage: storage, length: length) : nil
        return (Array(buffer.prefix(got)), sender == .unix(path: "") ? nil : sender)
    }

    /// Connects to the listener at `path` until its queue is full (a non-blocking connect
    /// fails with EAGAIN) or `limit` wait there, and hands back the waiting connections
    /// (keep them open while they must wait; close them after).
    static func fillQueue(at path: String, upTo limit: Int = 64) -> [HarnessSocket] {
        var clients: [HarnessSocket] = []
        while clients.count < limit, let client = try? HarnessSocket.make(.unix) {
            _ = fcntl(client.fd, F_SETFL, fcntl(client.fd, F_GETFL) | O_NONBLOCK)
            guard (try? SocketAddress.unix(path: path).withSockAddr({ SocketKit.connect(client.fd, $0, $1) })) == 0 else {
                client.close()
                break
            }
            clients.append(client)
        }
        return clients
    }

    /// Does a server answer at `path` now? (A connection that it accepts, or at least
    /// queues: connect succeeds.)
    static func answers(_ path: String) -> Bool {
        (try? connect(path, seconds: 0.5)) != nil
    }
}

/// The process umask, read without changing it for longer than a moment.
enum ProcessUmask {
    static var current: mode_t {
        let value = umask(0o022)
        umask(value)
        return value
    }
}

/// Watches a folder for what happens to the files in it (Linux: inotify). The check of
/// "never wider, not even for an instant": a chmod after bind shows as an attribute change.
final class FolderWatch {
    private let fd: Int32

    init?(_ folder: String) {
        #if os(Linux)
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        guard inotify_add_watch(fd, folder, UInt32(IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_TO)) >= 0 else {
            _ = close(fd)
            return nil
        }
        #else
        return nil
        #endif
    }

    deinit { _ = close(fd) }

    /// The names whose attributes (mode, owner) changed since the watch began or was last read.
    func attributeChanges() -> [String] {
        #if os(Linux)
        var names: [String] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { return names }
            var offset = 0
            // struct inotify_event: wd (4), mask (4), cookie (4), len (4), then len bytes of name.
            while offset + 16 <= count {
                let mask = buffer[offset + 4..<offset + 8].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                let length = Int(buffer[offset + 12..<offset + 16].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                let name = String(decoding: buffer[offset + 16..<min(offset + 16 + length, count)].prefix { $0 != 0 }, as: UTF8.self)
                if mask & UInt32(IN_ATTRIB) != 0 { names.append(name) }
                offset += 16 + length
            }
        }
        #else
        return []
        #endif
    }
}

/// A child process that connects to a socket path, as another user when these tests run as
/// root (root passes every permission check, so only another user shows what a socket
/// file's mode allows). It is this test bundle again, asked for the one test below.
///
///     connect PATH UID:GID|self    connect; report; hold the connection until the other end closes
///
/// Its report line: `report: connected pid=N uid=N gid=N` or `report: failed errno=N`.
final class UnixPeerChildProcess: XCTestCase {
    func testScenario() throws {
        guard let scenario = ProcessInfo.processInfo.environment[UnixChild.variable] else {
            throw XCTSkip("not a check: lesson 10's graders run this in a process of their own")
        }
        UnixChild.run(scenario.split(separator: " ").map(String.init))
    }
}

enum UnixChild {
    static let variable = "WORKBOOK_UNIX_CHILD"
    static let marker = BundleChild.marker
    /// True when the child can become another user (the tests run as root).
    static var canSwitchUser: Bool { getuid() == 0 }

    /// A user and group for the child, drawn from the seed: no account needs to exist for
    /// root to become it, and a uid unlike its gid shows which field is which.
    static func someUser(_ random: SeededGenerator) -> (uid: UInt32, gid: UInt32) {
        let uid = UInt32(random.int(in: 20_000...29_999))
        return (uid, uid + UInt32(random.int(in: 1...9_999)))
    }

    /// What the child did.
    struct Report: Sendable {
        let connected: Bool
        let errno: Int32
        let pid: Int32
        let uid: UInt32
        let gid: UInt32
        let output: String
    }

    /// Starts the child on a thread of its own and returns at once; `finished` gives its report
    /// once it has ended (it holds a connection until the other end closes it, at most 3 s).
    final class Running: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var report: Report?

        init(connectingTo path: String, as user: (uid: UInt32, gid: UInt32)?) {
            let who = user.map { "\($0.uid):\($0.gid)" } ?? "self"
            Thread { [self] in
                report = UnixChild.start(["connect", path, who])
                done.signal()
            }.start()
        }

        func finished(seconds: Double = 5) -> Report? {
            guard done.wait(timeout: .now() + seconds) == .success else { return nil }
            return report
        }
    }

    static func start(_ scenario: [String]) -> Report {
        let test = "Graders.UnixPeerChildProcess/testScenario"
        guard let (_, line, output) = try? BundleChild.start(test, variable: variable, scenario: scenario, seconds: 5) else {
            return Report(connected: false, errno: -1, pid: 0, uid: 0, gid: 0, output: "the child could not be started")
        }
        var fields: [String: String] = [:]
        for part in line.split(separator: " ") where part.contains("=") {
            let pair = part.split(separator: "=", maxSplits: 1)
            fields[String(pair[0])] = String(pair[1])
        }
        return Report(
            connected: line.hasPrefix("connected"), errno: Int32(fields["errno"] ?? "") ?? -1,
            pid: Int32(fields["pid"] ?? "") ?? 0, uid: UInt32(fields["uid"] ?? "") ?? 0, gid: UInt32(fields["gid"] ?? "") ?? 0,
            output: line.isEmpty ? output : line)
    }

    static func run(_ arguments: [String]) -> Never {
        func finish(_ line: String) -> Never {
            print(marker + line)
            fflush(nil)
            exit(0)
        }
        guard arguments.count == 3, arguments[0] == "connect" else { finish("failed errno=-1 usage") }
        let ids = arguments[2].split(separator: ":").compactMap { UInt32($0) }
        if ids.count == 2 {
            guard setgroups(0, nil) == 0, setgid(ids[1]) == 0, setuid(ids[0]) == 0 else { finish("failed errno=-1 setuid: \(SocketError(call: "setuid"))") }
        }
        let fd = socket(AF_UNIX, SocketType.stream.rawValue, 0)
        guard fd >= 0 else { finish("failed errno=\(errno) socket") }
        let result = (try? SocketAddress.unix(path: arguments[1]).withSockAddr { connect(fd, $0, $1) }) ?? -1
        guard result == 0 else { finish("failed errno=\(errno)") }
        print(marker + "connected pid=\(getpid()) uid=\(getuid()) gid=\(getgid())")
        fflush(nil)
        // Hold the connection until the grader closes its end (at most 3 s).
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, 3000)
        exit(0)
    }
}

/// Failure messages shared by lesson 10's checks.
enum Lesson10Grading {
    /// The error of a call that must throw `UnixPathTooLong`, or a failure naming what came.
    static func expectTooLong<Value>(_ outcome: Result<Value, any Error>, path: String, probe: Probe, function: String) throws {
        let bytes = path.utf8.count
        let expected = "\(function) to throw UnixPathTooLong for a path of \(bytes) bytes (\(path.count) characters): sun_path holds \(unixPathCapacity) bytes here, the terminating NUL included"
        switch outcome {
        case .success(let value):
            if let fd = value as? Int32 {
                let bound = (try? Inspect.localAddress(fd)).map { " bound to \($0)" } ?? ""
                closeIfOpen(fd)
                throw probe.fail(expected: expected, actual: "it returned a socket\(bound)", hint: .pathTooLong)
            }
            throw probe.fail(expected: expected, actual: Probe.returned(value), hint: .pathTooLong)
        case .failure(let error as UnixPathTooLong):
            guard error.path == path, error.limit == unixPathCapacity - 1 else {
                throw probe.fail(expected: expected + ", naming the path and the limit \(unixPathCapacity - 1)", actual: "it threw UnixPathTooLong(path: \(error.path.utf8.count) bytes, limit: \(error.limit))", hint: .pathTooLong)
            }
        case .failure(let error):
            throw probe.fail(expected: expected, actual: "it threw \(type(of: error)): \(error)", hint: .pathTooLong)
        }
    }
}

extension Hint {
    static let pathTooLong = Hint("path-too-long", "sockaddr_un.sun_path holds \(unixPathCapacity) bytes here (108 on Linux, 104 on macOS), the terminating NUL included: a path may have at most \(unixPathCapacity - 1) bytes. Count bytes (path.utf8.count), not characters, and check before you create anything: throw UnixPathTooLong(path: path). Copying only what fits binds a different, shorter path.")
    static let unixListener = Hint("unix-listener", "socket(AF_UNIX, SOCK_STREAM, 0), a sockaddr_un with sun_family AF_UNIX and the path's bytes in sun_path, bind, then listen. The path is the address: getsockname must give it back as it was given.")
    static let staleSocket = Hint("stale-socket", "A server that died (or closed without unlink) leaves its socket file behind, and bind then fails with EADDRINUSE. When lstat says the path is a socket and a connect to it is refused (ECONNREFUSED), nobody answers there: unlink it and bind again, once.")
    static let liveSocket = Hint("live-socket", "Remove the path only when it is a socket nobody answers on. A connect that succeeds means a server is alive there; another error (EPROTOTYPE: a datagram socket is bound there, EACCES...) does not prove it dead. Throw bind's EADDRINUSE and leave the file alone.")
    static let notASocket = Hint("not-a-socket", "Only a socket file may be removed, and only a stale one. Look at the path with lstat, which describes the path itself (a symbolic link is a link, wherever it points), never with stat; a regular file, a directory or a link is someone else's: throw bind's EADDRINUSE and leave it.")
    static let socketFileLeft = Hint("socket-file-left", "The socket file outlives the socket: close() does not remove it. closeUnixListener must unlink(path) as well as close the descriptor, or the next server meets a stale file.")
    static let permissions = Hint("permissions", "bind creates the file with mode 0777 minus the process umask. To get exactly `permissions`, set umask(0o777 & ~permissions) just before bind and put the old umask back just after.")
    static let permissionsFromTheStart = Hint("permissions-from-the-start", "A chmod after bind leaves a moment when the file has the umask's mode, and a client may connect in that moment (and stay connected). Set the umask before bind, so that the file never has any other mode.")
    static let umaskRestored = Hint("umask-restored", "The umask belongs to the whole process: every file it creates later gets it. Save what umask() returns and put it back right after bind, on the error path too.")
    static let unixConnect = Hint("unix-connect", "socket(AF_UNIX, SOCK_STREAM, 0) and connect with a sockaddr_un holding the path. When connect fails, throw SocketError(call: \"connect\") at once (ENOENT: no file; ECONNREFUSED: nobody listens there), and close the socket first.")
    static let datagramBind = Hint("datagram-bind", "A Unix datagram socket that is not bound has no address, so the server has nowhere to send its answer. Bind the client's socket to clientPath before sendto.")
    static let datagramCleanup = Hint("datagram-cleanup", "bind created a file at clientPath; closing the socket does not remove it. unlink(clientPath) before you return or throw (a defer right after a successful bind) - and only after your own bind succeeded: what was there before is not yours.")
    static let datagramReply = Hint("datagram-reply", "Send the request as one datagram (sendto), then return exactly one datagram: one recv gives one whole datagram, with the count it returned (a buffer of 65,536 bytes holds the largest).")
    static let datagramTimeout = Hint("datagram-timeout", "Wait for the reply with poll (or SO_RCVTIMEO) for at most `timeout` seconds, then throw SocketError(call: \"recv\", code: ETIMEDOUT). Not less: a fraction of a second counts.")
    static let peerCredentials = Hint("peer-credentials", "On Linux, getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) fills a struct ucred: pid (Int32), uid (UInt32), gid (UInt32), in that order, 12 bytes. They describe the process at the other end, not this one (getpid/getuid say who you are). macOS: getpeereid and LOCAL_PEERPID.")
}

extension Array {
    /// The same elements in an order drawn from the check's seed.
    func seededShuffle(_ random: SeededGenerator) -> [Element] {
        var generator = random
        return shuffled(using: &generator)
    }
}
