// Lesson 5 demo: the tutorials' UDP server and client, on YOUR code in
// Exercises/Lesson05/Datagrams.swift.
//
//     swift run lesson05-udp --role server       terminal 1: answers every datagram
//     swift run lesson05-udp --role client       terminal 2: type lines
//     nc -u 127.0.0.1 8001                        or talk to the server with nc
import DemoSupport
import Foundation
import Lesson05
import SocketKit

let command = DemoCommand(
    name: "lesson05-udp",
    help: """
        usage: swift run lesson05-udp --role server [--host 127.0.0.1] [--port 8001] [--requests N]
               swift run lesson05-udp --role client [--host 127.0.0.1] [--port 8001] [--timeout 1] [--attempts 3]

        server: binds a UDP socket with your openUDPSocket, and answers every datagram it
                receives (your receiveDatagram) with "恭喜您传输成功" ("your transfer succeeded"),
                sent back to the sender (your sendDatagram).
        client: sends each line you type as one datagram with your requestWithRetry, which
                waits --timeout seconds for the answer and sends again, --attempts times in all.

          --host      address (default 127.0.0.1)
          --port      port (default 8001, as in the tutorial; the server takes 0)
          --requests  server: stop after this many datagrams (default: run until Ctrl-C)
          --timeout   client: seconds to wait for each answer (default 1)
          --attempts  client: how many times to send before giving up (default 3)
        """,
    defaults: ["role": "", "host": "127.0.0.1", "port": "8001", "requests": "", "timeout": "1", "attempts": "3"])
let options = command.parse()
let host = options["host"]!
let port = command.port(options["port"]!)
let family: (String, UInt16) -> SocketAddress = { $0.contains(":") ? .ipv6(host: $0, port: $1) : .ipv4(host: $0, port: $1) }
let reply = Array("恭喜您传输成功".utf8)

func runServer() throws {
    let limit = options["requests"]!.isEmpty ? nil : command.count(options["requests"]!, flag: "requests")
    let fd: Int32
    do {
        fd = try openUDPSocket(boundTo: family(host, port))
    } catch let error as SocketError {
        throw DemoError.cannotListen(on: "\(family(host, port))", error, doing: "bind")
    }
    defer { _ = close(fd) }
    let address = try localAddress(of: fd)
    command.say("UDP server on \(address); try: nc -u \(address.host!) \(address.port!)")
    var answered = 0
    while limit.map({ answered < $0 }) ?? true {
        let datagram = try receiveDatagram(fd, maxSize: 1024)
        command.say("data=\(escaped(datagram.bytes)) add=\(datagram.sender)" + (datagram.truncated ? " (truncated to 1024 bytes)" : ""))
        try sendDatagram(fd, reply, to: datagram.sender)
        answered += 1
    }
    command.say("answered \(answered) datagram(s); bye")
}

func runClient() throws {
    let timeout = command.seconds(options["timeout"]!, flag: "timeout")
    let attempts = command.count(options["attempts"]!, flag: "attempts")
    let server = family(host, port)
    let fd = try openUDPSocket(boundTo: family(host.contains(":") ? "::1" : "127.0.0.1", 0))
    defer { _ = close(fd) }
    command.prompt("sending to \(server); type lines, Ctrl-D to finish")
    while let line = readLine() {
        do {
            let answer = try requestWithRetry(fd, request: Array(line.utf8), to: server, timeout: timeout, attempts: attempts)
            print(String(decoding: answer, as: UTF8.self))
            fflush(nil)
        } catch let noReply as NoReply {
            throw DemoError("no answer from \(server): \(noReply) (is the server running?)")
        }
    }
}

command.runRole(options["role"]!, server: runServer, client: runClient)
