// Lesson 3 demo: the tutorials' client, on YOUR openConnection and sendAll
// (Exercises/Lesson03/Client.swift). It sends what you type and prints whatever the server
// sends back, as it arrives.
//
//     swift run lesson02-server              terminal 1: an echo server on 127.0.0.1:8002
//     swift run lesson03-client              terminal 2: type lines; Ctrl-D to finish
import DemoSupport
import Foundation
import Lesson03
import SocketKit

let command = DemoCommand(
    name: "lesson03-client",
    help: """
        usage: swift run lesson03-client [--host 127.0.0.1] [--port 8002] [--wait 2]

        Connects to a TCP server with your openConnection, sends what you type with your
        sendAll, and prints what the server sends back. From a terminal it sends a line at a
        time, newline included, as you press Return; from a pipe or a file, the bytes as they
        come. Either way byte for byte: text you type goes as UTF-8, and any other bytes go
        through unchanged. At the end of your input (Ctrl-D, or the end of a pipe) it shuts
        down its sending side, prints the rest of the server's answer, and exits.

          --host   the server's address, IPv4 or IPv6, or a name such as localhost (each of
                   its addresses is tried in turn) (default 127.0.0.1)
          --port   the server's port (default 8002, where lesson02-server listens)
          --wait   seconds to wait on the server, 0.001 to 86400 (default 2): for the
                   connection, for the server to take what you send, and after your input
                   ends, for its last words

        Servers to try: swift run lesson02-server; or nc -l 8002 (then type in both terminals).
        """,
    defaults: ["host": "127.0.0.1", "port": "8002", "wait": "2"])
let options = command.parse()
let port = command.port(options["port"])
let wait = command.seconds(options["wait"], flag: "wait")
let addresses = command.addresses(host: options["host"], port: port)  // a name may have several: each is tried in turn
command.requireStandardStreams()

/// Prints everything the server sends, as it comes, until it closes the connection.
func printReplies(from fd: Int32, serverClosed: DispatchSemaphore) {
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            command.output(Array(buffer.prefix(count)))  // the bytes as they came: no decoding
            continue
        }
        if count < 0 && errno == EINTR { continue }
        if count < 0 { command.fail("lost the connection: \(SocketError(call: "recv"))") }
        command.note("(the server closed the connection)")
        serverClosed.signal()
        return
    }
}

command.run {
    let (fd, address) = try command.connect(toAnyOf: addresses, wait: wait, with: openConnection)
    try? suppressSIGPIPE(on: fd)  // macOS; on Linux your sendAll passes sendNoSignal
    // A send to a server that has stopped reading waits until there is room: give up after
    // --wait seconds (send fails with EAGAIN) instead of waiting for ever.
    try setSocketTimeouts(fd, receive: nil, send: wait)
    command.prompt("connected to \(address); type lines, Ctrl-D to finish")

    let serverClosed = DispatchSemaphore(value: 0)
    Thread { printReplies(from: fd, serverClosed: serverClosed) }.start()

    try command.forEachInputChunk { bytes in
        do {
            try sendAll(fd, bytes)
        } catch let error as SocketError {
            if isTimeout(error) { throw DemoError("\(address) has taken nothing for \(plain(wait)) s (--wait): it is not reading") }
            throw DemoError("the server is gone: \(error)")
        }
    }
    // End of input: tell the server we are done sending (it reads end-of-file), and give it
    // a moment to answer before we close.
    _ = LibC.shutdown(fd, ShutdownHow.write)
    if serverClosed.wait(timeout: .now() + wait) == .timedOut {
        command.note("(the server had not closed the connection after \(plain(wait)) s (--wait); closing ours)")
    }
    _ = close(fd)
}
