// Lesson 10 demo: lesson 4's echo server over a Unix socket file, on YOUR code: lesson 10's
// makeUnixListener / connectUnix / peerCredentials / closeUnixListener
// (Exercises/Lesson10/UnixSockets.swift), lesson 4's serveEcho and LineReader, and over TCP
// lesson 2's makeListener / acceptConnection and lesson 3's openConnection / sendAll.
//
//     swift run lesson10-unix --role server                 terminal 1: listens at ./echo.sock
//     swift run lesson10-unix --role client                 terminal 2: type lines, see them come back
//     nc -U echo.sock                                       or talk to it with netcat
import DemoSupport
import Foundation
import Lesson02
import Lesson03
import Lesson04
import Lesson09
import Lesson10
import SocketKit

let command = DemoCommand(
    name: "lesson10-unix",
    help: """
        usage: swift run lesson10-unix --role server [--path echo.sock] [--mode 600] [--idle 30]
               swift run lesson10-unix --role server --host 127.0.0.1 --port 8002 [--idle 30]
               swift run lesson10-unix --role client [--path echo.sock] [--wait 5]
               swift run lesson10-unix --role client --host 127.0.0.1 --port 8002 [--wait 5]

        server: the echo server of lesson 4 (your serveEcho), one client at a time. With
                --path (the default) it listens on a Unix socket file made by your
                makeUnixListener: a stale file left by a server that died is replaced; a
                live server's file, or any other file, is left alone (exit 2). It prints
                each client's process id, user id and group id (your peerCredentials), and
                removes its socket file when it stops (Ctrl-C or SIGTERM). With --host or
                --port it serves the same echo over TCP instead.
        client: sends each line you type and prints its echo. Ends at the end of your input
                (Ctrl-D).

          --path   the socket file (default echo.sock, in the current folder: yours alone, easy
                   to see with ls -l, and short: a path may have at most \(unixPathCapacity - 1) bytes here)
          --mode   server: the socket file's permissions, in octal (default 600: only you may connect)
          --host   TCP instead: a numeric address, or a name such as localhost, looked up with
                   your lesson 9 resolve (default 127.0.0.1)
          --port   TCP instead: the port (default 8002; the server takes 0 to let the kernel choose)
          --idle   server: seconds a client may stay silent, 0.001 to 86400 (default 30)
          --wait   client: seconds to wait for the connection and for each echo, 0.001 to 86400 (default 5)
        """,
    defaults: ["role": "", "path": "echo.sock", "mode": "600", "host": "127.0.0.1", "port": "8002", "idle": "30", "wait": "5"])
let options = command.parse()

/// The --mode flag: permission bits in octal, such as 600 or 0660.
func permissions() -> mode_t {
    let text = options["mode"]
    guard let mode = mode_t(text, radix: 8), mode <= 0o777, !text.hasPrefix("+"), !text.hasPrefix("-") else {
        command.fail("--mode must be octal permission bits from 0 to 777, such as 600, not \(shown(text))")
    }
    return mode
}

/// A --host name through your lesson 9 resolve(host:port:...) (Exercises/Lesson09/Names.swift).
func lookUp(_ host: String, _ port: UInt16) throws -> [SocketAddress] {
    try resolve(host: host, port: String(port))
}

func runServer() throws {
    let idle = command.seconds(options["idle"], flag: "idle")
    let endpoint = command.echoEndpoint(options, ipv4Only: true, resolve: lookUp)
    if case .tcp = endpoint, options.given.contains("mode") { command.fail("--mode is for a socket file (--path) only") }
    let mode = permissions()
    let stop = try ServerStop()  // before any other thread: it blocks SIGINT and SIGTERM
    let listener: Int32
    switch endpoint {
    case .path(let path):
        do {
            listener = try makeUnixListener(path: path, permissions: mode)
        } catch let error as SocketError {
            let why = error.code == EADDRINUSE ? " (a server is answering there, or it is not a socket file: it was left alone)" : ""
            throw DemoError("cannot listen on unix:\(path): \(error)\(why)")
        }
        command.say("echo server listening on unix:\(path) (mode \(String(mode, radix: 8))); try: nc -U \(shellQuoted(path))")
    case .tcp(let address):
        listener = try command.listen(on: address.host!, port: address.port!) { try makeListener(host: $0, port: $1) }
        let bound = try boundAddress(of: listener)
        command.say("echo server listening on \(bound); try: nc \(bound.host!) \(bound.port!)")
    }
    func cleanUp() throws {
        if case .path(let path) = endpoint {
            try closeUnixListener(listener, path: path)
            command.say("removed \(path)")
        } else {
            _ = close(listener)
        }
    }
    do {
        try serve(listener, endpoint: endpoint, idle: idle, stop: stop)
    } catch {
        try? cleanUp()
        throw error
    }
    try cleanUp()
    command.say("stopped (\(try stop.reasonAfterServing("the echo server")))")
}

/// Accepts clients one at a time and echoes each with your serveEcho, until `stop`.
func serve(_ listener: Int32, endpoint: EchoEndpoint, idle: Double, stop: ServerStop) throws {
    while true {
        var entries = [pollfd(fd: stop.readEnd, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        guard poll(&entries, 2, -1) >= 0 else {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if entries[0].revents != 0 { return }
        guard entries[1].revents != 0 else { continue }
        let connection: Int32
        let who: String
        if case .path = endpoint {
            connection = accept(listener, nil, nil)
            guard connection >= 0 else { throw SocketError(call: "accept") }
            do {
                who = "client \(try peerCredentials(of: connection))"
            } catch {
                _ = close(connection)
                throw error
            }
        } else {
            let (fd, peer) = try acceptConnection(on: listener)
            (connection, who) = (fd, "\(peer)")
        }
        guard stop.track(connection) else {
            _ = close(connection)
            return
        }
        command.say("connected: \(who)")
        do {
            try serveEcho(connection, idleTimeout: idle)  // it closes the connection
            command.say("done: \(who)")
        } catch let notStarted as NotStarted {
            stop.untrack(connection)
            throw notStarted
        } catch {
            command.say("dropped: \(who): \(error)")
        }
        stop.untrack(connection)
    }
}

func runClient() throws {
    let wait = command.seconds(options["wait"], flag: "wait")
    let endpoint = command.echoEndpoint(options, ipv4Only: false, resolve: lookUp)
    if options.given.contains("mode") { command.fail("--mode is for --role server only (see --help)") }
    command.requireStandardStreams()
    let fd: Int32
    switch endpoint {
    case .path(let path):
        do {
            fd = try connectUnix(path: path)
        } catch let error as SocketError {
            throw DemoError("cannot connect to unix:\(path): \(error)" + ([ENOENT, ECONNREFUSED].contains(error.code) ? " (is the server running?)" : ""))
        }
    case .tcp(let address):
        fd = try command.connect(to: address, wait: wait, with: openConnection)
    }
    defer { _ = close(fd) }
    try setSocketTimeouts(fd, receive: wait, send: wait)
    command.prompt("connected to \(endpoint); type lines, Ctrl-D to finish")
    var reader = LineReader(fd)
    try command.forEachInputLine(maxLength: 1 << 20, tooLong: "a line longer than 1 MiB") { line in
        try sendAll(fd, line)
        let complete = line.last == UInt8(ascii: "\n")
        if !complete { _ = LibC.shutdown(fd, ShutdownHow.write) }  // the last line: its echo ends at end-of-file
        do {
            guard let echo = try reader.readLine() else { throw DemoError("the server closed the connection") }
            command.output(echo + (complete ? [UInt8(ascii: "\n")] : []))
        } catch let closed as ConnectionClosed where !complete {
            command.output(closed.received)
        } catch let error where isTimeout(error) {
            throw DemoError("no echo from \(endpoint) within \(plain(wait)) s (--wait)")
        }
    }
}

command.runRole(options, serverOnly: ["idle", "mode"], clientOnly: ["wait"], server: runServer, client: runClient)
