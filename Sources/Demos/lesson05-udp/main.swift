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
                sent back to the sender (your sendDatagram). It handles one datagram at a
                time, and never waits on a client: there is no connection to hold.
        client: sends each line you type as one datagram, newline included and byte for byte,
                with your requestWithRetry, which waits --timeout seconds for the answer and
                sends again, --attempts times in all. A last line without a newline is sent
                as it is; a line longer than 65507 bytes does not fit in a datagram.

          --host      a numeric address, IPv4 or IPv6, or a name such as localhost (default
                      127.0.0.1; a name: its first address)
          --port      port (default 8001, as in the tutorial; the server takes 0)
          --requests  server: stop after this many datagrams, 1 to 1000000 (default: run until Ctrl-C)
          --timeout   client: seconds to wait for each answer, 0.001 to 86400 (default 1)
          --attempts  client: how many times to send before giving up, 1 to 100 (default 3)
        """,
    defaults: ["role": "", "host": "127.0.0.1", "port": "8001", "requests": "", "timeout": "1", "attempts": "3"])
let options = command.parse()
let port = command.port(options["port"])
let reply = Array("恭喜您传输成功".utf8)
/// The most a UDP datagram over IPv4 can carry: 65535, less 8 bytes of UDP header and 20 of IP.
let largestDatagram = 65_507

func runServer() throws {
    let limit = options["requests"].isEmpty ? nil : command.count(options["requests"], flag: "requests")
    let address = command.address(host: options["host"], port: port, socketType: .datagram, passive: true)
    let fd: Int32
    do {
        fd = try openUDPSocket(boundTo: address)
    } catch let error as SocketError {
        throw DemoError.cannotListen(on: "\(address)", error, doing: "bind")
    }
    defer { _ = close(fd) }
    let bound = try localAddress(of: fd)
    command.say("UDP server on \(bound); try: nc -u \(bound.host!) \(bound.port!)")
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
    let timeout = command.seconds(options["timeout"], flag: "timeout")
    let attempts = command.count(options["attempts"], flag: "attempts", range: 1...100)
    let server = command.address(host: options["host"], port: port, socketType: .datagram)
    command.requireStandardStreams()
    let fd = try openUDPSocket(boundTo: server.family == .inet6 ? .ipv6(host: "::1", port: 0) : .ipv4(host: "127.0.0.1", port: 0))
    defer { _ = close(fd) }
    command.prompt("sending to \(server); type lines, Ctrl-D to finish")
    let tooLong = "a line longer than \(largestDatagram) bytes does not fit in one UDP datagram"
    try command.forEachInputLine(maxLength: largestDatagram, tooLong: tooLong) { line in
        do {
            let answer = try requestWithRetry(fd, request: line, to: server, timeout: timeout, attempts: attempts)
            command.output(answer + [UInt8(ascii: "\n")])  // the answer's bytes as they came
        } catch let noReply as NoReply {
            throw DemoError("no answer from \(server): \(noReply) (is the server running?)")
        }
    }
}

command.runRole(
    options, serverOnly: ["requests"], clientOnly: ["timeout", "attempts"],
    server: runServer, client: runClient)
