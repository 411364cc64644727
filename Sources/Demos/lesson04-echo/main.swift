// Lesson 4 demo: the tutorials' full echo program, server and client, on YOUR code:
// lesson 2's makeListener / acceptConnection, lesson 3's openConnection / sendText, and
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
        usage: swift run lesson04-echo --role server [--host 127.0.0.1] [--port 8002] [--idle 30] [--clients N]
               swift run lesson04-echo --role client [--host 127.0.0.1] [--port 8002]

        server: accepts clients one after another and echoes each with your serveEcho. A
                client that resets, vanishes mid-message or says nothing for --idle seconds
                costs the server nothing: it closes that connection and serves the next.
        client: sends each line you type with your sendText and prints the echo, read back
                with your LineReader. Ends at the end of your input (Ctrl-D).

          --host     address (default 127.0.0.1)
          --port     port (default 8002; the server takes 0 to let the kernel choose)
          --idle     server: seconds of silence before giving up on a client (default 30)
          --clients  server: stop after this many clients (default: run until Ctrl-C)
        """,
    defaults: ["role": "", "host": "127.0.0.1", "port": "8002", "idle": "30", "clients": ""])
let options = command.parse()
let host = options["host"]!
let port = command.port(options["port"]!)

func runServer() throws {
    let idle = command.seconds(options["idle"]!, flag: "idle")
    let limit = options["clients"]!.isEmpty ? nil : command.count(options["clients"]!, flag: "clients")
    let listener: Int32
    do {
        listener = try makeListener(host: host, port: port)
    } catch let error as SocketError {
        throw DemoError.cannotListen(on: "\(host):\(port)", error)
    }
    defer { _ = close(listener) }
    let address = try boundAddress(of: listener)
    command.say("echo server listening on \(address); try: swift run lesson04-echo --role client --port \(address.port!)")
    var served = 0
    while limit.map({ served < $0 }) ?? true {
        let (connection, peer) = try acceptConnection(on: listener)
        command.say("connected: \(peer)")
        do {
            try serveEcho(connection, idleTimeout: idle)
            command.say("done: \(peer)")
        } catch let notStarted as NotStarted {
            throw notStarted  // a stub: the demo cannot serve anyone
        } catch {
            // serveEcho has closed the connection; one client's trouble is not the server's.
            command.say("dropped: \(peer): \(error)")
        }
        served += 1
    }
    command.say("served \(served) client(s); bye")
}

func runClient() throws {
    let address: SocketAddress = host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
    let fd: Int32
    do {
        fd = try openConnection(to: address)
    } catch let error as SocketError {
        throw DemoError.cannotConnect(to: address, error)
    }
    defer { _ = close(fd) }
    command.prompt("connected to \(address); type lines, Ctrl-D to finish")
    var reader = LineReader(fd)
    while let line = readLine() {
        try sendText(fd, line + "\n")
        guard let echo = try reader.readLine() else {
            throw DemoError("the server closed the connection")
        }
        print(String(decoding: echo, as: UTF8.self))
        fflush(nil)
    }
}

command.runRole(options["role"]!, server: runServer, client: runClient)
