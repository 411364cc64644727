// Lesson 2 demo: the "phone" echo server from the tutorials, on YOUR makeListener,
// acceptConnection and boundAddress (Exercises/Lesson02/Listener.swift).
//
//     swift run lesson02-server                 listens on 127.0.0.1:8002
//     nc 127.0.0.1 8002                          in a second terminal: type lines, see them echoed
import DemoSupport
import Lesson02
import SocketKit

let command = DemoCommand(
    name: "lesson02-server",
    help: """
        usage: swift run lesson02-server [--host 127.0.0.1] [--port 8002] [--clients N] [--client-time 120]

        A TCP echo server: bind, listen, then accept clients one after another, printing who
        connected and what each one sent, and sending every message straight back.

        It serves one client at a time: while one is connected, the next waits in the listen
        queue (lesson 7, many clients, changes that). So that no client can keep the others
        waiting for ever, each one gets --client-time seconds in all, reading and sending;
        then the server closes that connection and takes the next client.

          --host         the IPv4 address to listen on (default 127.0.0.1: this machine only);
                         IPv4 only in this lesson; a name such as localhost is looked up
          --port         the port (default 8002; 0 lets the kernel choose, and the server says which)
          --clients      stop after serving this many clients, 1 to 1000000 (default: run until Ctrl-C)
          --client-time  the most seconds one client may take, 0.001 to 86400 (default 120)

        Talk to it from another terminal with:  nc 127.0.0.1 8002
        """,
    defaults: ["host": "127.0.0.1", "port": "8002", "clients": "", "client-time": "120"])
let options = command.parse()
let port = command.port(options["port"])
let clientLimit = options["clients"].isEmpty ? nil : command.count(options["clients"], flag: "clients")
let clientTime = command.seconds(options["client-time"], flag: "client-time")
let host = command.address(host: options["host"], port: port, ipv4Only: true, passive: true).host!  // a name becomes the IPv4 text lesson 2's makeListener takes

/// Echoes everything one client sends until it closes or the connection fails.
/// (Lesson 4 is about recv and send in depth; this loop is the simplest correct one.)
/// Returns how it ended.
func echo(_ connection: Int32, peer: SocketAddress) -> String {
    var buffer = [UInt8](repeating: 0, count: 1024)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
        if count == 0 { return "\(peer) closed the connection" }
        if count < 0 { return "\(peer): \(SocketError(call: "recv"))" }
        let message = Array(buffer.prefix(count))
        command.say("msg=\(escaped(message)) addr=\(peer)")
        var sent = 0
        while sent < count {
            let written = message.withUnsafeBytes { send(connection, $0.baseAddress! + sent, count - sent, sendNoSignal) }
            if written < 0 { return "\(peer): \(SocketError(call: "send"))" }
            sent += written
        }
    }
}

command.run {
    let listener = try command.listen(on: host, port: port) { try makeListener(host: $0, port: $1, backlog: 5) }
    defer { _ = close(listener) }
    let address = try boundAddress(of: listener)
    command.say("listening on \(address); in another terminal: nc \(address.host!) \(address.port!)  (Ctrl-C stops)")

    var served = 0
    while clientLimit.map({ served < $0 }) ?? true {
        let (connection, peer) = try acceptConnection(on: listener)
        try? suppressSIGPIPE(on: connection)  // macOS: a vanished client must not kill the server
        command.say("connected: \(peer)")
        // The clock for this client: when it runs out, the connection is shut down, and
        // the recv or send the loop is waiting in returns.
        let limit: TimeLimit
        do {
            limit = try TimeLimit(on: connection, seconds: clientTime)
        } catch {
            _ = close(connection)
            throw error
        }
        let ending = echo(connection, peer: peer)
        let timeUp = limit.end()
        command.say(timeUp ? "closing \(peer): it had its \(plain(clientTime)) s (--client-time)" : ending)
        _ = close(connection)
        served += 1
    }
    command.say("served \(served) client(s); bye")
}
