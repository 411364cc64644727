// Lesson 8 demo: a chat room, server and client, on YOUR code: lesson 8's serveChat and
// runChatClient (Exercises/Lesson08/Chat.swift), with lesson 2's makeListener and
// boundAddress for the server's socket, and lesson 3's openConnection for the client's.
//
//     swift run lesson08-chat --role server                      terminal 1
//     swift run lesson08-chat --role client --nick alice         terminal 2
//     nc 127.0.0.1 8008                                          terminal 3: type /nick 小明
import DemoSupport
import Foundation
import Lesson02
import Lesson03
import Lesson08
import SocketKit

let command = DemoCommand(
    name: "lesson08-chat",
    help: """
        usage: swift run lesson08-chat --role server [--host 127.0.0.1] [--port 8008] [--max-line 1024] [--max-queued 65536]
               swift run lesson08-chat --role client [--host 127.0.0.1] [--port 8008] [--nick NAME] [--wait 5]

        A chat room: one server, and any number of clients at once, each in a terminal of
        its own (this demo's client, or nc).

        server: your serveChat, on one thread with poll. Lines of UTF-8 text: a client takes
                a nickname first (/nick NAME), then every line it sends is a message for
                everyone else; /who lists who is here, /quit leaves. Bad input is answered
                (a bad or taken nickname, a line longer than --max-line bytes, bytes that
                are not UTF-8, an unknown command), never obeyed; a client that does not
                read is dropped once more than --max-queued bytes wait for it. Ctrl-C (or
                SIGTERM) stops the server: it closes every connection and exits with status 0.
        client: your runChatClient: what you type goes to the server a line at a time, and
                what the server sends is printed as it comes, both at once. The end of your
                input (Ctrl-D) sends /quit; the client ends when the server closes the
                connection (exit status 0). With --nick NAME, "/nick NAME" is sent first,
                as if you had typed it.

          --host        a numeric address or a name such as localhost (default 127.0.0.1: this
                        machine only); the server is IPv4 only in this lesson
          --port        port (default 8008; the server takes 0 to let the kernel choose, and
                        says which)
          --max-line    server: the longest line a client may send, in bytes, 1 to 1048576
                        (default 1024)
          --max-queued  server: the most bytes that may wait for one client that does not
                        read, 1 to 1073741824 (default 65536); past it, the client is dropped
          --nick        client: the nickname to take first: 1 to 16 bytes of letters (any
                        script), digits, "_" or "-" (the server judges it, and answers)
          --wait        client: seconds to wait for the connection, and for the server to
                        close it after /quit, 0.001 to 86400 (default 5)

        Try it with three terminals: the server; swift run lesson08-chat --role client
        --nick alice; and nc 127.0.0.1 8008, where you type /nick 小明 and then say hello.
        """,
    defaults: ["role": "", "host": "127.0.0.1", "port": "8008", "max-line": "1024", "max-queued": "65536", "nick": "", "wait": "5"])
let options = command.parse()
let port = command.port(options["port"])

func runServer() throws {
    let maxLine = command.count(options["max-line"], flag: "max-line", range: 1...(1 << 20))
    let maxQueued = command.count(options["max-queued"], flag: "max-queued", range: 1...(1 << 30))
    let host = command.address(host: options["host"], port: port, ipv4Only: true, passive: true).host!  // a name becomes the IPv4 text lesson 2's makeListener takes
    let stop = try ServerStop()  // first: before any other thread starts
    let listener = try command.listen(on: host, port: port) { try makeListener(host: $0, port: $1) }
    defer { _ = close(listener) }
    let address = try boundAddress(of: listener)
    command.say("chat server listening on \(address) (lines up to \(maxLine) bytes, up to \(maxQueued) bytes queued for a client); join with: \(joinCommand(address)) --nick NAME, or: nc \(address.host ?? host) \(address.port ?? port)  (Ctrl-C stops)")
    try serveChat(listener, stop: stop.readEnd, maxLine: maxLine, maxQueued: maxQueued)
    command.say("stopped (\(try stop.reasonAfterServing("the chat server"))); bye")
}

/// The client's command line for the server's greeting. A server started on the reference
/// answers (WORKBOOK_SOLUTIONS=1) says so: `swift run` without it would rebuild every demo
/// on your own answers, this server included.
func joinCommand(_ address: SocketAddress) -> String {
    let reference = ProcessInfo.processInfo.environment["WORKBOOK_SOLUTIONS"] == "1" ? "WORKBOOK_SOLUTIONS=1 " : ""
    let host = address.host.map { $0 == "127.0.0.1" ? "" : " --host \(shellQuoted($0))" } ?? ""
    return "\(reference)swift run lesson08-chat --role client\(host) --port \(address.port ?? port)"
}

func runClient() throws {
    let wait = command.seconds(options["wait"], flag: "wait")
    let addresses = command.addresses(host: options["host"], port: port)  // a name may have several: each is tried in turn
    let nick = options.given.contains("nick") ? options["nick"] : nil
    // One line, or the nickname would smuggle a second line in ("a\n/quit"). Everything
    // else about it is the server's to judge: its answer is printed like any other.
    if let nick, nick.utf8.contains(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
        command.fail("--nick must be one line (no newline or carriage return), not \(shown(nick))")
    }
    command.requireStandardStreams()
    let (connection, address) = try command.connect(toAnyOf: addresses, wait: wait, with: openConnection)
    defer { _ = close(connection) }
    let input = try InputRelay(first: nick.map { Array("/nick \($0)\n".utf8) } ?? [], connection: connection, wait: wait)
    command.prompt("connected to \(address); " + (nick == nil ? "first take a nickname: /nick NAME; then " : "")
        + "type messages for everyone; /who to see who is here; /quit or Ctrl-D to leave")
    do {
        try runChatClient(connection: connection, input: input.readEnd, output: STDOUT_FILENO)
    } catch let error as SocketError where error.call == "write" {
        throw DemoError("cannot write to standard output: \(error)")  // the only write: recv'd bytes to output
    } catch let error as SocketError {
        throw DemoError("the chat with \(address) broke off: \(error)")
    }
    let end = input.finish()
    if let failure = end.failure { throw failure }
    if end.timedOut {
        // Input that ends without a "\n" leaves an unfinished line: a "/quit" sent straight
        // after it is not a line of its own ("hello/quit"), and the server rightly waits on.
        let why = end.midLine
            ? "your input ended in the middle of a line: was /quit sent on a line of its own, or glued to the unfinished one?"
            : "a chat server answers bye and closes it"
        throw DemoError("\(address) had not closed the connection \(plain(wait)) s after /quit (--wait): \(why)")
    }
    if !end.inputEnded { command.note("the server closed the connection") }
}

command.runRole(
    options, serverOnly: ["max-line", "max-queued"], clientOnly: ["nick", "wait"],
    server: runServer, client: runClient)
