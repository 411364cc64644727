// Lesson 9 demo: names and addresses, on YOUR resolve, openConnection(host:port:attemptTimeout:),
// makeDualStackListener and clientAddress (Exercises/Lesson09/Names.swift).
//
//     swift run lesson09-names --role lookup --host localhost      print each address
//     swift run lesson09-names --role server                       terminal 1: a greeting server on [::]:8009
//     swift run lesson09-names --role connect --host localhost     terminal 2: connect by name
//     nc -4 127.0.0.1 8009    and    nc -6 ::1 8009                 both reach the same server
import DemoSupport
import Foundation
import Lesson09
import SocketKit

let command = DemoCommand(
    name: "lesson09-names",
    help: """
        usage: swift run lesson09-names --role lookup|connect|server [--host localhost] [--port 8009] [--family any] [--wait 2]

          --role lookup    looks --host and --port up with your resolve and prints each address
                           (family, type, and the numeric form)
          --role connect   resolves --host, tries each address in turn with your
                           openConnection(toAnyOf:attemptTimeout:), printing each attempt and
                           its outcome, then prints what the server sends
          --role server    listens on [::] with your makeDualStackListener (IPv6 and IPv4 on one
                           socket; every interface, not only loopback) and greets each client
                           with the address your clientAddress reports, then closes it

          --host    a name or a numeric address (default localhost); not used by --role server
          --port    the port (default 8009; 0 for any free one with --role server)
          --family  for lookup: any, 4 or 6 (default any)
          --wait    seconds for each connect attempt, 0.001 to 86400 (default 2)

        Try: nc -4 127.0.0.1 8009 and nc -6 ::1 8009 against the server, or a Python client:
        socket.create_connection(("localhost", 8009)).recv(100).
        """,
    defaults: ["role": "", "host": "localhost", "port": "8009", "family": "any", "wait": "2"])
let options = command.parse()
let port = command.port(options["port"])
let wait = command.seconds(options["wait"], flag: "wait")
let host = options["host"]

/// "IPv4", "IPv6": how a person names a family.
func familyName(_ address: SocketAddress) -> String {
    address.family == .inet ? "IPv4" : address.family == .inet6 ? "IPv6" : "\(address.family)"
}

/// Your resolve, with its failure as the one line the resolver gave.
func lookUp(family: Int32, socketType: Int32) throws -> [SocketAddress] {
    do {
        return try resolve(host: host, port: String(port), family: family, socketType: socketType, flags: AI_NUMERICSERV)
    } catch let error as LookupError {
        throw DemoError("cannot resolve \(shown(host)): \(error.text) (EAI code \(error.code))")
    }
}

func runLookup() throws {
    let family: Int32
    switch options["family"] {
    case "any": family = AF_UNSPEC
    case "4": family = AF_INET
    case "6": family = AF_INET6
    default: command.fail("--family must be any, 4 or 6, not \(shown(options["family"]))")
    }
    for (type, label) in [(SocketType.stream, "TCP"), (SocketType.datagram, "UDP")] {
        let addresses = try lookUp(family: family, socketType: type.rawValue)
        for address in addresses {
            command.say("\(label)  \(familyName(address))  \(address)")
        }
    }
}

func runConnect() throws {
    // Your resolve gives the list; each address is then tried with your
    // openConnection(toAnyOf:attemptTimeout:), one at a time, so that each attempt and its
    // outcome can be printed. (openConnection(host:port:attemptTimeout:) does the same loop
    // without a word.)
    let addresses = try lookUp(family: AF_UNSPEC, socketType: SocketType.stream.rawValue)
    command.say("\(shown(host)) has \(addresses.count) address(es): \(addresses.map(\.description).joined(separator: ", "))")
    var connected: Int32?
    var lastError: SocketError?
    for address in addresses where connected == nil {
        do {
            connected = try openConnection(toAnyOf: [address], attemptTimeout: wait)
            command.say("trying \(address): connected")
        } catch let error as SocketError {
            command.say("trying \(address): \(error.name) (\(error.text))")
            lastError = error
        }
    }
    guard let fd = connected else {
        let why = lastError.map { "\($0)" + ($0.code == ECONNREFUSED ? " (is the server running?)" : "") } ?? "no address"
        throw DemoError("no address of \(shown(host)) answered on port \(port): \(why)")
    }
    defer { _ = close(fd) }
    let peer = (try? remoteAddress(of: fd)).map(\.description) ?? "?"
    command.say("connected to \(peer)")
    try setSocketTimeouts(fd, receive: wait, send: wait)
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 { command.output(Array(buffer.prefix(count))); continue }
        if count < 0 && errno == EINTR { continue }
        break  // closed, or nothing more within --wait
    }
}

func runServer() throws {
    if options.given.contains("host") { command.fail("--host is not used by --role server: it listens on [::], every address (see --help)") }
    let listener: Int32
    do {
        listener = try makeDualStackListener(port: port)
    } catch let error as SocketError {
        throw DemoError.cannotListen(on: "[::]:\(port)", error)
    }
    let bound = try localAddress(of: listener)
    command.say("listening on \(bound) (IPv6 and IPv4); try: nc -4 127.0.0.1 \(bound.port ?? 0)   or   nc -6 ::1 \(bound.port ?? 0)")
    while true {
        let connection = accept(listener, nil, nil)
        if connection < 0 {
            if errno == EINTR || errno == ECONNABORTED { continue }
            throw SocketError(call: "accept")
        }
        let greeting: String
        do {
            let peer = try clientAddress(of: connection)
            greeting = "hello, \(familyName(peer)) client \(peer)\n"
        } catch {
            greeting = "hello (your address: \(error))\n"
        }
        command.say("greeted " + greeting.dropFirst("hello, ".count).dropLast())
        _ = Array(greeting.utf8).withUnsafeBytes { send(connection, $0.baseAddress, $0.count, sendNoSignal) }
        _ = close(connection)
    }
}

command.run {
    switch options["role"] {
    case "lookup": try runLookup()
    case "connect": try runConnect()
    case "server": try runServer()
    case "": command.fail("say what to do: --role lookup, --role connect or --role server (see --help)")
    default: command.fail("--role must be lookup, connect or server, not \(shown(options["role"]))")
    }
}
