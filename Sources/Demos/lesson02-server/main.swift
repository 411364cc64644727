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
        usage: swift run lesson02-server [--host 127.0.0.1] [--port 8002] [--clients N]

        A TCP echo server: bind, listen, then accept clients one after another, printing who
        connected and what each one sent, and sending every message straight back.

          --host     the IPv4 address to listen on (default 127.0.0.1: this machine only)
          --port     the port (default 8002; 0 lets the kernel choose, and the server says which)
          --clients  stop after serving this many clients (default: run until Ctrl-C)

        Talk to it from another terminal with:  nc 127.0.0.1 8002
        """,
    defaults: ["host": "127.0.0.1", "port": "8002", "clients": ""])
let options = command.parse()
let host = options["host"]!
let port = command.port(options["port"]!)
let clientLimit = options["clients"]!.isEmpty ? nil : command.count(options["clients"]!, flag: "clients")

/// Echoes everything one client sends until it closes or the connection fails.
/// (Lesson 4 is about recv and send in depth; this loop is the simplest correct one.)
func echo(_ connection: Int32, peer: SocketAddress) {
    var buffer = [UInt8](repeating: 0, count: 1024)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
        if count == 0 { return command.say("\(peer) closed the connection") }
        if count < 0 { return command.say("\(peer): \(SocketError(call: "recv"))") }
        let message = Array(buffer.prefix(count))
        command.say("msg=\(escaped(message)) addr=\(peer)")
        var sent = 0
        while sent < count {
            let written = message.withUnsafeBytes { send(connection, $0.baseAddress! + sent, count - sent, sendNoSignal) }
            if written < 0 { return command.say("\(peer): \(SocketError(call: "send"))") }
            sent += written
        }
    }
}

command.run {
    let listener: Int32
    do {
        listener = try makeListener(host: host, port: port, backlog: 5)
    } catch let error as SocketError {
        throw DemoError.cannotListen(on: "\(host):\(port)", error)
    }
    defer { _ = close(listener) }
    let address = try boundAddress(of: listener)
    command.say("listening on \(address); in another terminal: nc \(address.host!) \(address.port!)  (Ctrl-C stops)")

    var served = 0
    while clientLimit.map({ served < $0 }) ?? true {
        let (connection, peer) = try acceptConnection(on: listener)
        try? suppressSIGPIPE(on: connection)  // macOS: a vanished client must not kill the server
        command.say("connected: \(peer)")
        echo(connection, peer: peer)
        _ = close(connection)
        served += 1
    }
    command.say("served \(served) client(s); bye")
}
