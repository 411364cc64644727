// Lesson 7 demo: one echo server, three ways to serve many clients, on YOUR code: lesson 2's
// makeListener / acceptConnection / boundAddress, lesson 4's serveEcho, and lesson 7's
// serveWithThreads and serveEchoWithPoll (Exercises/Lesson07/ManyClients.swift).
//
//     swift run lesson07-server --model threads            terminal 1
//     nc 127.0.0.1 8002                                    terminals 2 and 3, at the same time
//     swift run lesson07-load --clients 100                or a crowd, with latency figures
import DemoSupport
import Foundation
import Lesson02
import Lesson04
import Lesson07
import SocketKit

let command = DemoCommand(
    name: "lesson07-server",
    help: """
        usage: swift run lesson07-server --model one-at-a-time|threads|poll [--host 127.0.0.1] [--port 8002]
                                         [--limit 8] [--max-pending 1048576] [--idle 60]

        An echo server, run one of three ways (models):

          one-at-a-time  the earlier lessons' way: accept a client, echo it (your lesson 4
                         serveEcho) until it closes, then take the next. While one client is
                         connected, every other one waits in the listen queue.
          threads        your serveWithThreads: a thread for each client, each running
                         serveEcho, at most --limit at once; the next ones wait in the queue.
          poll           your serveEchoWithPoll: one thread, every client at once.

        Every model closes a client that has sent nothing for --idle seconds, or that has
        taken none of its echo for --idle seconds. Ctrl-C (or SIGTERM) stops the server: it
        closes its connections and exits with status 0.

          --model        one-at-a-time, threads or poll (no default: choose one)
          --host         the IPv4 address to listen on (default 127.0.0.1: this machine only);
                         IPv4 only in this lesson; a name such as localhost is looked up
          --port         the port (default 8002; 0 lets the kernel choose, and the server says which)
          --limit        threads: the most clients served at once, 1 to 100000 (default 8)
          --max-pending  poll: the most bytes waiting to be echoed to one client (one that
                         sends and does not read), 1 to 1073741824 (default 1048576)
          --idle         seconds a client may stay silent, 0.001 to 86400 (default 60)

        Try it with nc 127.0.0.1 8002 from two terminals at once, or with many clients:
        swift run lesson07-load --clients 100 (add --hold to see one silent client hold up a
        one-at-a-time server).
        """,
    defaults: ["model": "", "host": "127.0.0.1", "port": "8002", "limit": "8", "max-pending": "1048576", "idle": "60"])
let options = command.parse()
let model = chosenModel()
let port = command.port(options["port"])
let idle = command.seconds(options["idle"], flag: "idle")
let limit = command.count(options["limit"], flag: "limit", range: 1...100_000)
let maxPending = command.count(options["max-pending"], flag: "max-pending", range: 1...(1 << 30))
let host = command.address(host: options["host"], port: port, ipv4Only: true, passive: true).host!  // a name becomes the IPv4 text lesson 2's makeListener takes

/// The --model flag, or exit 2; a flag meant for another model is refused, not ignored
/// (`--model poll --limit 4` would look as if it limited something).
func chosenModel() -> String {
    let model = options["model"]
    let flags = ["one-at-a-time": [], "threads": ["limit"], "poll": ["max-pending"]]
    guard flags[model] != nil else {
        if model.isEmpty { command.fail("say which model to run: --model one-at-a-time, threads or poll (see --help)") }
        command.fail("--model must be one-at-a-time, threads or poll, not \(shown(model))")
    }
    for (other, theirs) in flags where other != model {
        if let flag = theirs.first(where: options.given.contains) {
            command.fail("--\(flag) is for --model \(other) only (see --help)")
        }
    }
    return model
}

/// What the greeting says about the model, after the address.
func modelSummary() -> String {
    switch model {
    case "one-at-a-time": "one client at a time: the others wait in the listen queue"
    case "threads": "a thread for each client, at most \(limit) at once"
    default: "one thread and poll, every client at once; no line per client"
    }
}

/// Lesson 2's listener, with a listen queue long enough for a crowd: a thousand clients
/// connecting at once (lesson07-load) would overflow the usual 16, and the kernel would
/// drop their handshakes and make them try again a second later. (The kernel caps it at
/// net.core.somaxconn.)
func openListener() throws -> Int32 {
    try command.listen(on: host, port: port) { try makeListener(host: $0, port: $1, backlog: Int32(SOMAXCONN)) }
}

command.run {
    try raiseOpenFileLimit()  // a thousand clients are a thousand descriptors
    let stop = try ServerStop()  // first: before any other thread starts
    let listener = try openListener()
    defer { _ = close(listener) }
    let address = try boundAddress(of: listener)
    command.say("\(model) echo server listening on \(address) (\(modelSummary())); try: nc \(address.host ?? host) \(address.port ?? port)  (Ctrl-C stops)")
    switch model {
    case "one-at-a-time": try serveOneAtATime(listener, stop: stop)
    case "threads": try serveWithThreads(listener, limit: limit, stop: stop.readEnd, handler: threadHandler(stop))
    default: try serveEchoWithPoll(listener, stop: stop.readEnd, maxPending: maxPending, idleTimeout: idle)
    }
    command.say("stopped (\(try stop.reasonAfterServing("the \(model) server"))); bye")
}
