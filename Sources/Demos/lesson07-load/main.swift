// Lesson 7's load tool: many echo clients at once against any echo server, with the
// latency they saw. It runs on no lesson's code (only the demos' own), so it measures
// every model of lesson07-server alike, and any other echo server (nc -l -k is not one:
// it does not echo).
//
//     swift run lesson07-server --model poll               terminal 1
//     swift run lesson07-load --clients 1000               terminal 2
import DemoSupport
import Foundation
import SocketKit

let command = DemoCommand(
    name: "lesson07-load",
    help: """
        usage: swift run lesson07-load [--host 127.0.0.1] [--port 8002] [--clients 100] [--messages 10]
                                       [--size 64] [--wait 5] [--hold]

        Starts --clients echo clients at once against an echo server (lesson07-server, in
        any model). Each one connects, then sends --messages messages of --size bytes, one
        at a time: it sends a message, waits until all of its echo is back, checks every
        byte, and sends the next. Then it prints what the clients saw:

          clients served  how many got every echo back, exactly
          errors          refused, reset or closed connections, echoes that differ
          timed out       clients that waited --wait seconds for a connection or an echo byte
          round trip      from sending a message to the end of its echo: median, p90, p99, max
          echoed          echoed bytes per second, over the whole run
          first echo      the longest any client waited, from connecting to its first echo

        With --hold, one more client connects first and sends nothing until the end: a
        one-at-a-time server serves it first, and every other client waits behind it (and
        times out after --wait); a server with threads or poll serves the others anyway.

          --host      the server's address or name (default 127.0.0.1; a name: its first address)
          --port      the server's port (default 8002, lesson07-server's)
          --clients   clients at once, 1 to 100000 (default 100); each one is a descriptor
          --messages  messages each client sends, 1 to 1000000 (default 10); --clients
                      times --messages at most 10000000 (each round trip is kept)
          --size      bytes in a message, 1 to 16777216 (default 64)
          --wait      seconds a client waits for its connection, and for each echo to
                      begin or go on, 0.001 to 86400 (default 5)
          --hold      first connect one client that stays silent for the whole run

        Exit status: 0 every client was served, 1 some were not (the table says why), 2 bad
        flags, or no client could connect at all (one line on stderr).
        """,
    defaults: ["host": "127.0.0.1", "port": "8002", "clients": "100", "messages": "10", "size": "64", "wait": "5"],
    switches: ["hold"])
let options = command.parse()
let plan = LoadPlan(
    address: command.address(host: options["host"], port: command.port(options["port"])),
    clients: command.count(options["clients"], flag: "clients", range: 1...100_000),
    messages: command.count(options["messages"], flag: "messages"),
    size: command.count(options["size"], flag: "size", range: 1...(16 << 20)),
    wait: command.seconds(options["wait"], flag: "wait"))
let hold = options["hold"] == "yes"
/// Every round trip is kept, for the percentiles: 8 bytes each.
let mostRoundTrips = 10_000_000

/// Exits 2 unless this process may open a descriptor for every client (and a few more:
/// the standard streams, the silent client). The soft limit is raised as far as it goes.
func requireDescriptors() throws {
    let needed = plan.clients + (hold ? 1 : 0) + 16
    let allowed = try raiseOpenFileLimit()
    guard needed <= allowed else {
        command.fail("--clients \(plan.clients) needs about \(needed) open descriptors (one a client), and this process may have only \(allowed) (its hard limit, ulimit -Hn): use fewer clients, or raise the hard limit")
    }
}

/// When every client's connect failed, nothing is listening there: that is one line and
/// exit 2 (like the other clients), not a table of errors.
func requireSomeoneConnected(_ results: LoadResults) throws {
    var first: SocketError?
    for client in results.clients {
        guard case .refused(let error) = client.outcome else { return }
        first = first ?? error
    }
    if let first { throw DemoError.cannotConnect(to: plan.address, first) }
}

command.run {
    guard plan.clients * plan.messages <= mostRoundTrips else {
        command.fail("--clients × --messages may be at most \(mostRoundTrips) (every round trip is kept for the percentiles), not \(plan.clients * plan.messages)")
    }
    try requireDescriptors()
    let silent = hold ? try connectSilentClient(to: plan.address, within: plan.wait) : nil
    defer { if let silent { _ = close(silent) } }
    let results = try runLoad(plan)
    try requireSomeoneConnected(results)
    // The title comes after the run, so that a run that cannot start is one line on stderr.
    command.say("\(plan.clients) clients at once, each sending \(plan.messages) messages of \(plan.size) bytes to \(plan.address)" + (hold ? ", while one more client holds a connection and says nothing:" : ":"))
    for line in report(results, plan: plan) { command.say(line) }
    if !results.clients.allSatisfy(\.wasServed) { exit(1) }
}
