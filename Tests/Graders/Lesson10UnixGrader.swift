import Foundation
import GradingHarness
import Lesson10
import SocketKit
import XCTest

/// Grades Exercises/Lesson10/UnixSockets.swift: a listener at a path that replaces only a
/// stale socket file, a client, a datagram exchange, and the peer's credentials. Every
/// path is in a fresh folder the check makes and removes; names, sizes, permissions and the
/// order of the cases come from the check's seed. The truth is read from the filesystem
/// (lstat, inotify) and the kernel (getsockname, SO_TYPE), and from the harness's own peers.
final class Lesson10UnixGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(10)
    }

    // MARK: makeUnixListener / closeUnixListener

    // A listening AF_UNIX stream socket at exactly the path given, that a client reaches,
    // with the backlog given; closeUnixListener closes it and removes its file (and closes it
    // when the file is already gone, throwing unlink's ENOENT).
    func test1_listenerAtThePathAndItsCleanUp() throws {
        try grade {
            let probe = Probe("makeUnixListener(path:backlog:permissions:) listens at the path it was given; closeUnixListener(_:path:) closes it and removes the file")
            let folder = try ScratchFolder()
            defer { folder.remove() }
            let path = folder.socketPath(probe.random)
            let backlog = Int32(probe.random.int(in: 1...16))
            let fd = try probe.call("makeUnixListener(path:backlog:permissions:)", returns: { [$0] }, errorHint: { _ in .unixListener }) {
                try makeUnixListener(path: path, backlog: backlog)
            }
            var closed = false
            defer { if !closed { closeIfOpen(fd) } }
            let kind = (try? Inspect.family(fd), try? Inspect.type(fd), try? Inspect.isListening(fd))
            guard kind.0 == .unix, kind.1 == .stream, kind.2 == true else {
                throw probe.fail(expected: "a listening AF_UNIX SOCK_STREAM socket", actual: "it returned \(Inspect.describe(fd))", hint: .unixListener)
            }
            let bound = try? Inspect.localAddress(fd)
            guard bound == .unix(path: path), FileFacts.of(path)?.type == S_IFSOCK else {
                throw probe.fail(expected: "bound to unix:\(path), with a socket file there", actual: "bound to \(bound.map { "\($0)" } ?? "nothing"); at the path: \(FileFacts.of(path)?.kind ?? "nothing")", hint: .unixListener)
            }
            // A client reaches it, and the bytes cross.
            let client = try UnixPeers.connect(path)
            guard let served = UnixPeers.accept(fd, seconds: 1) else {
                throw probe.fail(expected: "a connection to \(path) to wait for accept on the listener", actual: "nothing to accept after 1 s", hint: .unixListener)
            }
            let message = probe.random.bytes(probe.random.int(in: 1...512))
            let log = probe.transcript.open("a harness client -> your listener at unix:\(path)")
            try client.sendAll(message)
            probe.transcript.record(log, .bytes(from: .harness, message))
            let got = try Inspect.receive(served, limit: 1024, seconds: 1) ?? []
            _ = close(served)
            client.close()
            guard got == message else {
                throw probe.fail(expected: "the client's \(message.count) bytes to arrive", actual: "\(got.count) bytes arrived", hint: .unixListener)
            }
            #if os(Linux)
            // The backlog, read from the kernel's behaviour: a Unix listener queues backlog + 1
            // connections, and a non-blocking connect past that fails with EAGAIN.
            let waiting = UnixPeers.fillQueue(at: path, upTo: Int(backlog) + 3)
            waiting.forEach { $0.close() }
            let queued = waiting.count
            guard queued == Int(backlog) + 1 else {
                throw probe.fail(expected: "listen(fd, \(backlog)): \(backlog + 1) connections queued before the next is refused", actual: "\(queued) were queued\(queued > Int(backlog) + 1 ? " (or more)" : ""): the backlog given to listen was not \(backlog)", hint: .unixListener)
            }
            #endif
            _ = try probe.call("closeUnixListener(_:path:)", errorHint: { _ in .socketFileLeft }) { try closeUnixListener(fd, path: path) }
            closed = true
            guard !Inspect.isOpen(fd) else {
                throw probe.fail(expected: "the listener closed", actual: "descriptor \(fd) is still open: \(Inspect.describe(fd))", hint: .leak)
            }
            if let left = FileFacts.of(path) {
                throw probe.fail(expected: "no file at \(path) after closeUnixListener", actual: "\(left.kind) is still there", hint: .socketFileLeft)
            }
            // Its file already gone (someone removed it): unlink's ENOENT, and the
            // descriptor closed all the same.
            let second = try probe.call("makeUnixListener(path:backlog:permissions:)", returns: { [$0] }, errorHint: { _ in .unixListener }) {
                try makeUnixListener(path: path, backlog: backlog)
            }
            _ = unlink(path)
            probe.transcript.note("the harness removed \(path); then closeUnixListener")
            let outcome = try probe.attempt("closeUnixListener(_:path:)") { try closeUnixListener(second, path: path) }
            guard !Inspect.isOpen(second) else {
                closeIfOpen(second)
                throw probe.fail(expected: "the listener closed even though its file was gone", actual: "descriptor \(second) is still open (\(describe(outcome)))", hint: .leak)
            }
            try expectSocketError(outcome, call: "unlink", code: ENOENT, probe: probe, function: "closeUnixListener(_:path:) with the file already gone")
        }
    }

    // Row 38: a socket file whose server is gone (bound, then closed without unlink) is
    // replaced, whether the dead server was a stream or a datagram socket.
    func test2_staleSocketFileIsReplaced() throws {
        try grade {
            let probe = Probe("makeUnixListener(path:backlog:permissions:) replaces a stale socket file left by a server that is gone")
            let folder = try ScratchFolder()
            defer { folder.remove() }
            for type in [SocketType.stream, SocketType.datagram].seededShuffle(probe.random) {
                let path = folder.socketPath(probe.random, "stale")
                try UnixPeers.leaveStale(path, type)
                probe.transcript.note("a stale \(type) socket file at \(path): its server closed without removing it")
                let outcome = try probe.attempt("makeUnixListener(path:backlog:permissions:)", returns: { [$0] }) {
                    try makeUnixListener(path: path, permissions: 0o600)
                }
                let fd: Int32
                switch outcome {
                case .success(let value): fd = value
                case .failure(let error):
                    throw probe.fail(expected: "the stale file replaced by a new listener", actual: "it threw \(error)", hint: .staleSocket)
                }
                defer { closeIfOpen(fd) }
                let client = try? UnixPeers.connect(path)
                let served = UnixPeers.accept(fd, seconds: 1)
                if let served { _ = close(served) }
                client?.close()
                guard served != nil else {
                    throw probe.fail(expected: "a client of \(path) to reach the new listener", actual: client == nil ? "the connect failed" : "the listener had nothing to accept after 1 s", hint: .staleSocket)
                }
                try? closeUnixListener(fd, path: path)
            }
        }
    }

    // Row 38: a live server's socket (stream, stream with its queue full, or datagram) is
    // never removed: bind's EADDRINUSE, at once, the file the same one, the server still
    // answering.
    func test3_liveServerIsLeftAlone() throws {
        try grade {
            let probe = Probe("makeUnixListener(path:backlog:permissions:) throws EADDRINUSE, and leaves the file alone, when a live server is at the path")
            let folder = try ScratchFolder()
            defer { folder.remove() }
            for (type, busy) in [(SocketType.stream, false), (.stream, true), (.datagram, false)].seededShuffle(probe.random) {
                let path = folder.socketPath(probe.random, "live")
                let server = try UnixPeers.bound(path, type, backlog: busy ? 0 : 8)
                defer { server.close() }
                let waiting = busy ? UnixPeers.fillQueue(at: path) : []
                defer { waiting.forEach { $0.close() } }
                let before = FileFacts.of(path)
                probe.transcript.note("a live \(type) server at \(path)" + (busy ? ", its queue full (\(waiting.count) connection waiting)" : ""))
                let outcome = try probe.attempt("makeUnixListener(path:backlog:permissions:)", returns: { [$0] }, seconds: 1, blockedHint: .liveSocket) {
                    try makeUnixListener(path: path, permissions: 0o600)
                }
                let after = FileFacts.of(path)
                if after != before {
                    if case .success(let fd) = outcome { closeIfOpen(fd) }
                    throw probe.fail(expected: "the live \(type) server's socket file left alone", actual: after == nil ? "it was removed" : "it was replaced by another file", hint: .liveSocket)
                }
                try expectSocketError(outcome, call: "bind", code: EADDRINUSE, probe: probe, function: "makeUnixListener(path:backlog:permissions:)") { _ in .liveSocket }
                if type == .stream && !busy {
                    // Still answering: a new client reaches the harness's server.
                    let client = try? UnixPeers.connect(path)
                    let served = try server.accept(seconds: 1)
                    client?.close()
                    served?.close()
                    guard client != nil, served != nil else {
                        throw probe.fail(expected: "the live server still answering at \(path)", actual: "a client could not reach it", hint: .liveSocket)
                    }
                }
            }
        }
    }

    // Row 38: what is not a socket is never removed: a regular file, a directory, a
    // symbolic link to a stale socket, a link to nowhere.
    func test4_otherFilesAreLeftAlone() throws {
        try grade {
            let probe = Probe("makeUnixListener(path:backlog:permissions:) throws EADDRINUSE, and leaves the file alone, when a regular file, a directory or a symbolic link is at the path")
            let folder = try ScratchFolder()
            defer { folder.remove() }
            let stale = folder.socketPath(probe.random, "target")
            try UnixPeers.leaveStale(stale)
            let content = probe.random.bytes(probe.random.int(in: 1...64))
            let cases: [(String, (String) throws -> Void)] = [
                ("a regular file", { path in guard FileManager.default.createFile(atPath: path, contents: Data(content)) else { throw SocketError(call: "creat") } }),
                ("a directory", { path in guard mkdir(path, 0o755) == 0 else { throw SocketError(call: "mkdir") } }),
                ("a symbolic link to a stale socket file", { path in guard symlink(stale, path) == 0 else { throw SocketError(call: "symlink") } }),
                ("a symbolic link to nowhere", { path in guard symlink(folder.path + "/nowhere", path) == 0 else { throw SocketError(call: "symlink") } }),
            ]
            for (what, make) in cases.seededShuffle(probe.random) {
                let path = folder.socketPath(probe.random, "other")
                try make(path)
                let before = FileFacts.of(path)
                probe.transcript.note("\(what) at \(path)")
                let outcome = try probe.attempt("makeUnixListener(path:backlog:permissions:)", returns: { [$0] }) {
                    try makeUnixListener(path: path, permissions: 0o600)
                }
                let after = FileFacts.of(path)
                let intact = after == before && (what != "a regular file" || FileManager.default.contents(atPath: path) == Data(content))
                if !intact || FileFacts.of(stale)?.type != S_IFSOCK {
                    if case .success(let fd) = outcome { closeIfOpen(fd) }
                    let actual = !intact ? (after.map { "it was replaced by \($0.kind)" } ?? "it was removed") : "the stale socket file the link points to was removed"
                    throw probe.fail(expected: "\(what) at the path left alone (and what it points to)", actual: actual, hint: .notASocket)
                }
                try expectSocketError(outcome, call: "bind", code: EADDRINUSE, probe: probe, function: "makeUnixListener(path:backlog:permissions:)") { _ in .notASocket }
            }
        }
    }

    // Row 39: a path that does not fit in sun_path throws before anything is made; the
    // longest path that fits works. (The long path is counted in bytes: its name is made of
    // two-byte characters.)
    func test5_pathLengthIsChecked() throws {
        try grade {
            let probe = Probe("makeUnixListener and connectUnix throw UnixPathTooLong for a path longer than sun_path holds, and accept the longest that fits")
            let folder = try ScratchFolder()
            defer { folder.remove() }
            let lengths = [unixPathCapacity, probe.random.int(in: unixPathCapacity + 1...250)]
            for (index, length) in lengths.enumerated() {
                let path = folder.pathOfLength(length, wide: index == 1)
                probe.transcript.note("a path of \(path.utf8.count) bytes, \(path.count) characters")
                let outcome = try probe.attempt("makeUnixListener(path:backlog:permissions:)", returns: { [$0] }) {
                    try makeUnixListener(path: path, permissions: 0o600)
                }
                try Lesson10Grading.expectTooLong(outcome, path: path, probe: probe, function: "makeUnixListener(path:backlog:permissions:)")
                guard folder.entries.isEmpty else {
                    throw probe.fail(expected: "nothing created for a path that does not fit", actual: "the folder holds \(folder.entries.map { "\"\($0)\" (\($0.utf8.count) bytes)" }.joined(separator: ", "))", hint: .pathTooLong)
                }
                let connected = try probe.attempt("connectUnix(path:)", returns: { [$0] }) { try connectUnix(path: path) }
                try Lesson10Grading.expectTooLong(connected, path: path, probe: probe, function: "connectUnix(path:)")
            }
            let longest = folder.pathOfLength(unixPathCapacity - 1, wide: true)
            probe.transcript.note("a path of \(longest.utf8.count) bytes: the longest that fits")
            let fd = try probe.call("makeUnixListener(path:backlog:permissions:)", returns: { [$0] }, errorHint: { _ in .pathTooLong }) {
                try makeUnixListener(path: longest, permissions: 0o600)
            }
            defer { closeIfOpen(fd) }
            let bound = try? Inspect.localAddress(fd)
            guard bound == .unix(path: longest), FileFacts.of(longest)?.type == S_IFSOCK else {
                throw probe.fail(expected: "a listener bound to the whole \(longest.utf8.count)-byte path", actual: "bound to \(bound.map { "\($0)" } ?? "nothing") (\(bound?.description.dropFirst("unix:".count).utf8.count ?? 0) bytes)", hint: .pathTooLong)
            }
            try? closeUnixListener(fd, path: longest)
        }
    }

    // The socket file has exactly the mode asked for, whatever the umask, from the start
    // (no chmod after bind: inotify sees it); the umask is left as it was; and (as root)
    // another user (a seeded uid) is refused by a mode that does not let it write.
    func test6_permissionsFromTheStart() throws {
        try grade {
            let probe = Probe("makeUnixListener(path:backlog:permissions:) creates the socket file with exactly `permissions`, never wider, and leaves the umask as it was")
            let folder = try ScratchFolder()
            defer { folder.remove() }
            let saved = umask(0o022)
            defer { umask(saved) }
            let wide = probe.random.pick([mode_t(0o666), 0o662, 0o660, 0o620])
            var closedPath: String?
            for permissions in [wide, mode_t(0o600)] {
                let path = folder.socketPath(probe.random)
                let watch = FolderWatch(folder.path)
                probe.transcript.note("umask 022; permissions \(String(permissions, radix: 8)) for \(path)")
                let fd = try probe.call("makeUnixListener(path:backlog:permissions:)", returns: { [$0] }, errorHint: { _ in .unixListener }) {
                    try makeUnixListener(path: path, permissions: permissions)
                }
                defer { closeIfOpen(fd) }
                let mode = FileFacts.of(path)?.mode
                guard mode == permissions else {
                    throw probe.fail(expected: "the socket file's mode \(String(permissions, radix: 8)) with the umask at 022", actual: mode.map { "mode \(String($0, radix: 8))" } ?? "no file at the path", hint: .permissions)
                }
                if let changed = watch?.attributeChanges(), changed.contains(URL(fileURLWithPath: path).lastPathComponent) {
                    throw probe.fail(expected: "the file created with its mode (no chmod after bind)", actual: "the file's attributes were changed after it was created (inotify IN_ATTRIB): it had another mode for a moment", hint: .permissionsFromTheStart)
                }
                let now = ProcessUmask.current
                guard now == 0o022 else {
                    throw probe.fail(expected: "the umask left at 022, as it was", actual: "it is \(String(now, radix: 8)) after the call", hint: .umaskRestored)
                }
                if permissions == 0o600 { closedPath = path }
            }
            // Root passes every permission check; another user does not.
            if UnixChild.canSwitchUser, let path = closedPath {
                let user = UnixChild.someUser(probe.random)
                let report = UnixChild.Running(connectingTo: path, as: user).finished()
                guard let report, !report.connected, report.errno == EACCES else {
                    throw probe.fail(expected: "another user (uid \(user.uid)) refused (EACCES) by a socket file of mode 600", actual: report.map { $0.connected ? "it connected" : "its connect gave \(errnoName($0.errno)): \($0.output)" } ?? "the child did not finish", hint: .permissions)
                }
            }
        }
    }

    // MARK: connectUnix

    // A connection to the server at the path; and the errors of a path with no server:
    // no file, a stale socket, a regular file. Nothing left open when it throws.
    func test7_connectToAPath() throws {
        try grade {
            let probe = Probe("connectUnix(path:) connects to the server at the path, and throws connect's error when nobody listens there")
            let folder = try ScratchFolder()
            defer { folder.remove() }
            let path = folder.socketPath(probe.random)
            let server = try UnixPeers.bound(path)
            defer { server.close() }
            let fd = try probe.call("connectUnix(path:)", returns: { [$0] }, errorHint: { _ in .unixConnect }) { try connectUnix(path: path) }
            defer { closeIfOpen(fd) }
            guard let served = try server.accept(seconds: 1) else {
                throw probe.fail(expected: "a connection waiting at \(path)", actual: "nothing to accept after 1 s; it returned \(Inspect.describe(fd))", hint: .unixConnect)
            }
            defer { served.close() }
            let peer = try? Inspect.peerAddress(fd)
            guard (try? Inspect.type(fd)) == .stream, peer == .unix(path: path) else {
                throw probe.fail(expected: "a stream socket connected to unix:\(path)", actual: "it returned \(Inspect.describe(fd))", hint: .unixConnect)
            }
            let message = probe.random.bytes(probe.random.int(in: 1...512))
            let log = probe.transcript.open("your connection -> the harness's server at unix:\(path)")
            try served.sendAll(message)
            probe.transcript.record(log, .bytes(from: .harness, message))
            guard (try Inspect.receive(fd, limit: 1024, seconds: 1)) == message else {
                throw probe.fail(expected: "the server's \(message.count) bytes to arrive on the returned socket", actual: "they did not", hint: .unixConnect)
            }
            // Nobody there, three ways.
            let stale = folder.socketPath(probe.random, "stale")
            try UnixPeers.leaveStale(stale)
            let regular = folder.socketPath(probe.random, "file")
            _ = FileManager.default.createFile(atPath: regular, contents: Data(probe.random.bytes(8)))
            let cases = [
                (folder.socketPath(probe.random, "none"), ENOENT, "no file"), (folder.path + "/no-folder-\(probe.random.int(in: 1...9999))/s.sock", ENOENT, "no such folder"),
                (stale, ECONNREFUSED, "a stale socket file"), (regular, ECONNREFUSED, "a regular file"),
            ]
            for (target, code, what) in cases.seededShuffle(probe.random) {
                probe.transcript.note("connectUnix to \(what): \(target)")
                let outcome = try probe.attempt("connectUnix(path:)", returns: { [$0] }) { try connectUnix(path: target) }
                try expectSocketError(outcome, call: "connect", code: code, probe: probe, function: "connectUnix(path:) to \(what)")
            }
        }
    }

    // MARK: unixDatagramRequest

    // One datagram out, one back, exactly (sizes 0 to past 1,024; a second datagram after it
    // is not part of the reply); the client's address is the path it was given, and its file
    // is gone afterwards.
    func test8_datagramExchange() throws {
        try grade {
            let probe = Probe("unixDatagramRequest(_:to:from:timeout:) sends one datagram from a socket bound at clientPath and returns the server's one datagram, then removes clientPath")
            let folder = try ScratchFolder()
            defer { folder.remove() }
            let serverPath = folder.socketPath(probe.random, "server")
            let server = try UnixPeers.bound(serverPath, .datagram)
            defer { server.close() }
            for size in [probe.random.pick([0, 1]), probe.random.int(in: 1025...60_000)] {
                let clientPath = folder.socketPath(probe.random, "client")
                let request = probe.random.bytes(probe.random.int(in: 0...1500))
                let reply = probe.random.bytes(size)
                let seen = DatagramLog()
                let transcript = probe.transcript
                let log = transcript.open("datagrams: your socket -> the harness's server at unix:\(serverPath)")
                let thread = Thread {
                    guard let (bytes, sender) = UnixPeers.receiveDatagram(server, seconds: 1.5) else { return }
                    seen.record(bytes, sender)
                    transcript.record(log, .bytes(from: .learner, bytes))
                    guard let sender else { return }  // an unbound client: nowhere to answer
                    for datagram in [reply, Array("and another".utf8)] where (try? server.sendDatagram(datagram, to: sender)) != nil {
                        transcript.record(log, .bytes(from: .harness, datagram))
                    }
                }
                thread.start()
                probe.transcript.note("a \(request.count)-byte request from \(clientPath); the server answers \(reply.count) bytes, then another datagram")
                let outcome = try probe.attempt("unixDatagramRequest(_:to:from:timeout:)") {
                    try unixDatagramRequest(request, to: serverPath, from: clientPath, timeout: 1)
                }
                seen.waitForThread(thread)
                guard let (bytes, sender) = seen.first else {
                    throw probe.fail(expected: "one datagram at \(serverPath)", actual: "none came (\(describe(outcome)))", hint: .datagramReply)
                }
                guard sender == .unix(path: clientPath) else {
                    throw probe.fail(expected: "the request sent from a socket bound at \(clientPath)", actual: "it came from \(sender.map { "\($0)" } ?? "an unbound socket (no address to answer)"); then \(describe(outcome))", hint: .datagramBind)
                }
                guard bytes == request else {
                    throw probe.fail(expected: "the \(request.count)-byte request as one datagram", actual: "a datagram of \(bytes.count) bytes", hint: .datagramReply)
                }
                guard case .success(let got) = outcome, got == reply else {
                    throw probe.fail(expected: "the server's \(reply.count)-byte datagram returned", actual: describe(outcome), hint: .datagramReply)
                }
                if let left = FileFacts.of(clientPath) {
                    throw probe.fail(expected: "no file at \(clientPath) once it returned", actual: "\(left.kind) is still there", hint: .datagramCleanup)
                }
            }
        }
    }

    // No reply: ETIMEDOUT after `timeout` (a fraction), not before, and clientPath removed.
    // Something already at clientPath: bind's EADDRINUSE, and it is left alone. No server
    // at serverPath: sendto's error, and clientPath removed all the same.
    func test9_datagramTimeoutAndATakenPath() throws {
        try grade {
            let probe = Probe("unixDatagramRequest(_:to:from:timeout:) throws ETIMEDOUT after `timeout` with no reply, and EADDRINUSE when clientPath is taken, cleaning up only its own file")
            let folder = try ScratchFolder()
            defer { folder.remove() }
            let serverPath = folder.socketPath(probe.random, "silent")
            let server = try UnixPeers.bound(serverPath, .datagram)
            defer { server.close() }
            let timeout = Double(probe.random.int(in: 10...25)) / 100
            let clientPath = folder.socketPath(probe.random, "client")
            probe.transcript.note("a silent server at \(serverPath); timeout \(timeout) s")
            let measured = try probe.measure("unixDatagramRequest(_:to:from:timeout:)") {
                try unixDatagramRequest(Array("hello?".utf8), to: serverPath, from: clientPath, timeout: timeout)
            }
            try expectSocketError(measured.result, call: "recv", code: ETIMEDOUT, probe: probe, function: "unixDatagramRequest(_:to:from:timeout:) with no reply") { _ in .datagramTimeout }
            guard measured.seconds >= timeout - 0.02, measured.seconds < timeout + 0.5 else {
                throw probe.fail(expected: "ETIMEDOUT after \(timeout) s", actual: "after \(String(format: "%.3f", measured.seconds)) s", hint: .datagramTimeout)
            }
            if let left = FileFacts.of(clientPath) {
                throw probe.fail(expected: "no file at \(clientPath) after the timeout", actual: "\(left.kind) is still there", hint: .datagramCleanup)
            }
            // clientPath taken, by a regular file and by a live datagram socket: bind's
            // EADDRINUSE, and what was there is left alone.
            for live in [true, false].seededShuffle(probe.random) {
                let taken = folder.socketPath(probe.random, "taken")
                let holder: HarnessSocket? = live ? try UnixPeers.bound(taken, .datagram) : nil
                if holder == nil { _ = FileManager.default.createFile(atPath: taken, contents: Data(probe.random.bytes(8))) }
                defer { holder?.close() }
                let before = FileFacts.of(taken)
                probe.transcript.note("clientPath \(taken) is already \(before?.kind ?? "?")")
                let outcome = try probe.attempt("unixDatagramRequest(_:to:from:timeout:)") {
                    try unixDatagramRequest(Array("hello?".utf8), to: serverPath, from: taken, timeout: timeout)
                }
                guard FileFacts.of(taken) == before else {
                    throw probe.fail(expected: "\(before?.kind ?? "the file") at clientPath left alone", actual: "it was removed or replaced (\(describe(outcome)))", hint: .datagramCleanup)
                }
                try expectSocketError(outcome, call: "bind", code: EADDRINUSE, probe: probe, function: "unixDatagramRequest(_:to:from:timeout:) with clientPath taken")
            }
            // No server at serverPath: nothing there (ENOENT), a stale socket (ECONNREFUSED).
            // sendto's error, and the client's own file removed on that path too.
            let stale = folder.socketPath(probe.random, "gone")
            try UnixPeers.leaveStale(stale, .datagram)
            for (target, code, what) in [(folder.socketPath(probe.random, "none"), ENOENT, "no file"), (stale, ECONNREFUSED, "a stale socket file")].seededShuffle(probe.random) {
                let client = folder.socketPath(probe.random, "client")
                probe.transcript.note("serverPath is \(what): \(target)")
                let outcome = try probe.attempt("unixDatagramRequest(_:to:from:timeout:)") {
                    try unixDatagramRequest(Array("anyone?".utf8), to: target, from: client, timeout: timeout)
                }
                if let left = FileFacts.of(client) {
                    throw probe.fail(expected: "no file at \(client) after sendto failed (\(what) at serverPath)", actual: "\(left.kind) is still there (\(describe(outcome)))", hint: .datagramCleanup)
                }
                try expectSocketError(outcome, call: "sendto", code: code, probe: probe, function: "unixDatagramRequest(_:to:from:timeout:) with \(what) at serverPath")
            }
        }
    }

    // MARK: peerCredentials

    // Row 40: the credentials of the process at the other end: this one across a
    // socketpair; a child process (as root: another, seeded uid and gid) across a connection. And the
    // errors of a closed descriptor and a pipe.
    func test10_peerCredentials() throws {
        try grade {
            let probe = Probe("peerCredentials(of:) gives the pid, uid and gid of the process at the other end")
            let folder = try ScratchFolder()
            defer { folder.remove() }
            let path = folder.socketPath(probe.random)
            let server = try UnixPeers.bound(path)
            defer { server.close() }
            guard chmod(path, 0o666) == 0 else { throw SocketError(call: "chmod") }
            // Meanwhile: a socketpair within this process.
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, SocketType.stream.rawValue, 0, &pair) == 0 else { throw SocketError(call: "socketpair") }
            defer { pair.forEach { _ = close($0) } }
            let ours = PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid())
            let mine = try probe.call("peerCredentials(of:)", errorHint: { _ in .peerCredentials }) { [pair] in try peerCredentials(of: pair[0]) }
            guard mine == ours else {
                throw probe.fail(expected: "across a socketpair in this process: \(ours)", actual: "\(mine)", hint: .peerCredentials)
            }
            // A child process at the other end: user nobody when the tests run as root.
            let user = UnixChild.canSwitchUser ? UnixChild.someUser(probe.random) : nil
            let child = UnixChild.Running(connectingTo: path, as: user)
            guard let connection = try server.accept(seconds: 3) else {
                let report = child.finished()
                throw probe.fail(expected: "a child process to connect to \(path)", actual: "it did not: \(report?.output ?? "it was still running")", hint: .harnessDisturbed)
            }
            let outcome = try probe.attempt("peerCredentials(of:)") { try peerCredentials(of: connection.fd) }
            connection.close()
            guard let report = child.finished(), report.connected else {
                throw probe.fail(expected: "the child process to report its pid", actual: "it did not", hint: .harnessDisturbed)
            }
            let theirs = PeerCredentials(pid: report.pid, uid: report.uid, gid: report.gid)
            probe.transcript.note("a child process (\(theirs)) connected to \(path)")
            guard case .success(let got) = outcome, got == theirs else {
                throw probe.fail(expected: "the child's credentials: \(theirs)", actual: describe(outcome) + ((try? outcome.get()) == ours ? " (this process's own)" : ""), hint: .peerCredentials)
            }
            // Errors: a closed descriptor, a pipe.
            #if canImport(Darwin)
            let call = "getpeereid"
            #else
            let call = "getsockopt"
            #endif
            let closed = ErrorInputs.closedDescriptor(probe.random)
            let none = try probe.attempt("peerCredentials(of:)") { try peerCredentials(of: closed) }
            try expectSocketError(none, call: call, code: EBADF, probe: probe, function: "peerCredentials(of: a closed descriptor)")
            try ErrorInputs.withPipe { pipe in
                let piped = try probe.attempt("peerCredentials(of:)") { try peerCredentials(of: pipe) }
                try expectSocketError(piped, call: call, code: ENOTSOCK, probe: probe, function: "peerCredentials(of: a pipe)")
            }
        }
    }

    private func describe<Value>(_ outcome: Result<Value, any Error>) -> String {
        switch outcome {
        case .success(let value): return Probe.returned(value)
        case .failure(let error): return "it threw \(error)"
        }
    }
}

/// What the harness's datagram server received, from its own thread.
final class DatagramLog: @unchecked Sendable {
    private let lock = NSLock()
    private var received: [([UInt8], SocketAddress?)] = []

    func record(_ bytes: [UInt8], _ sender: SocketAddress?) { lock.withLock { received.append((bytes, sender)) } }
    var first: ([UInt8], SocketAddress?)? { lock.withLock { received.first } }

    /// Waits (at most 2 s) for the server's thread to end.
    func waitForThread(_ thread: Thread) {
        let deadline = Clock.now + 2
        while !thread.isFinished && Clock.now < deadline { usleep(2_000) }
    }
}
