// Lesson 4 demo: the tutorials' full echo program, server and client, on YOUR code:
// lesson 2's makeListener / acceptConnection, lesson 3's openConnection / sendAll, and
// lesson 4's serveEcho and LineReader (Exercises/Lesson04/Receive.swift).
//
//     swift run lesson04-echo --role server          terminal 1
//     swift run lesson04-echo --role client          terminal 2: type lines, see them come back
import DemoSupport
import Foundation
import Lesson02
import Lesson03
import Lesson04
import SocketKit

let command = DemoCommand(
    name: "lesson04-echo",
    help: """
        usage: swift run lesson04-echo --role server [--host 127.0.0.1] [--port 8002] [--idle 30] [--client-time 120] [--clients N]
               swift run lesson04-echo --role client [--host 127.0.0.1] [--port 8002] [--wait 5]

        server: accepts clients and echoes each with your serveEcho. It serves one client at a
                time: while one is connected, the next waits in the listen queue (lesson 7,
                many clients, changes that). So that no client can keep the others waiting
                for ever, each one is closed when it has sent nothing for --idle seconds,
                when a send to it has waited --idle seconds (a client that does not read its
                echo), or when it has used up --client-time seconds in all (a client that
                drips a byte at a time is never silent for long). A client that resets or
                vanishes mid-message costs nothing either: the server closes that
                connection and takes the next.
        client: sends each line you type (newline included, byte for byte) with your
                sendAll, and prints the echo, read back with your LineReader. Ends at the end
                of your input (Ctrl-D); a last line without a newline is sent as it is, and
                its echo read up to the server's end-of-file. Waits at most --wait seconds
                for the server at each step.

          --host         a numeric address or a name such as localhost (default 127.0.0.1); the
                         server is IPv4 only in this lesson
          --port         port (default 8002; the server takes 0 to let the kernel choose)
          --idle         server: seconds a client may stay silent, or a send to it may wait, 0.001 to 86400 (default 30)
          --client-time  server: the most seconds one client may take in all, 0.001 to 86400 (default 120)
          --clients      server: stop after this many clients, 1 to 1000000 (default: run until Ctrl-C)
          --wait         client: seconds to wait for the connection, for the server to take
                         each line and for each echo, 0.001 to 86400 (default 5)
        """,
    defaults: ["role": "", "host": "127.0.0.1", "port": "8002", "idle": "30", "client-time": "120", "clients": "", "wait": "5"])
let options = command.parse()
let port = command.port(options["port"])
/// The longest line the client sends: the echo of a line must fit in what the two ends'
/// buffers hold while the client is still sending it (it reads the echo only afterwards).
let longestLine = 1 << 20

func runServer() throws {
    let idle = command.seconds(options["idle"], flag: "idle")
    let clientTime = command.seconds(options["client-time"], flag: "client-time")
    let limit = options["clients"].isEmpty ? nil : command.count(options["clients"], flag: "clients")
    let host = command.address(host: options["host"], port: port, ipv4Only: true, passive: true).host!  // a name becomes the IPv4 text lesson 2's makeListener takes
    let listener = try command.listen(on: host, port: port) { try makeListener(host: $0, port: $1) }
    defer { _ = close(listener) }
    let address = try boundAddress(of: listener)
    command.say("echo server listening on \(address); try: swift run lesson04-echo --role client --port \(address.port!)")
    var served = 0
    while limit.map({ served < $0 }) ?? true {
        let (connection, peer) = try acceptConnection(on: listener)
        command.say("connected: \(peer)")
        // Your serveEcho bounds the silence (--idle, with SO_RCVTIMEO). The demo adds a send
        // timeout, so that a client that never reads cannot block the echo's send for ever,
        // and a clock for the whole connection, against a client that sends one byte a
        // second (it is never silent for long, so --idle alone would not end it).
        let clock: TimeLimit
        do {
            try setSocketTimeouts(connection, receive: nil, send: idle)
            clock = try TimeLimit(on: connection, seconds: clientTime)
        } catch {
            _ = close(connection)
            throw error
        }
        var failure: (any Error)?
        do {
            try serveEcho(connection, idleTimeout: idle)
        } catch let notStarted as NotStarted {
            clock.end()
            throw notStarted  // a stub: the demo cannot serve anyone
        } catch {
            failure = error  // serveEcho has closed the connection; one client's trouble is not the server's
        }
        if clock.end() {
            command.say("closed: \(peer): it had its \(plain(clientTime)) s (--client-time)")
        } else if let failure, isTimeout(failure) {
            command.say("dropped: \(peer): it took nothing for \(plain(idle)) s (--idle): \(failure)")
        } else if let failure {
            command.say("dropped: \(peer): \(failure)")
        } else {
            command.say("done: \(peer)")
        }
        served += 1
    }
    command.say("served \(served) client(s); bye")
}

func runClient() throws {
    let wait = command.seconds(options["wait"], flag: "wait")
    let addresses = command.addresses(host: options["host"], port: port)  // a name may have several: each is tried in turn
    command.requireStandardStreams()
    let (fd, address) = try command.connect(toAnyOf: addresses, wait: wait, with: openConnection)
    defer { _ = close(fd) }
    // A server that accepts and never answers (or never reads) must not hold this client
    // for ever: recv and send give up after --wait seconds (EAGAIN).
    try setSocketTimeouts(fd, receive: wait, send: wait)
    command.prompt("connected to \(address); type lines, Ctrl-D to finish")
    var reader = LineReader(fd)

    /// What to say when a call on the connection failed: a timeout names --wait.
    func trouble(_ error: any Error, _ timedOut: String) -> any Error {
        if isTimeout(error) { return DemoError(timedOut) }
        return error is SocketError ? DemoError("the server is gone: \(error)") : error
    }

    try command.forEachInputLine(maxLength: longestLine, tooLong: "a line longer than \(longestLine) bytes: this client sends lines and waits for each one's echo (lesson03-client sends any amount)") { line in
        do {
            try sendAll(fd, line)
        } catch {
            throw trouble(error, "\(address) has taken nothing for \(plain(wait)) s (--wait): it is not reading")
        }
        let complete = line.last == UInt8(ascii: "\n")
        if !complete {
            // The last line, with no newline to end it: say "that is all" (half-close), and
            // the echo ends at the server's end-of-file instead.
            _ = LibC.shutdown(fd, ShutdownHow.write)
        }
        do {
            guard let echo = try reader.readLine() else {
                throw DemoError("the server closed the connection")
            }
            command.output(echo + (complete ? [UInt8(ascii: "\n")] : []))
        } catch let closed as ConnectionClosed where !complete {
            command.output(closed.received)  // the echo of a last line without a newline
        } catch let error as DemoError {
            throw error
        } catch {
            throw trouble(error, "no echo from \(address) within \(plain(wait)) s (--wait): it accepted the connection but does not answer (a one-at-a-time server may be busy with another client)")
        }
    }
}

command.runRole(
    options, serverOnly: ["idle", "client-time", "clients"], clientOnly: ["wait"],
    server: runServer, client: runClient)
