// Lesson 3 demo: the tutorials' client, on YOUR openConnection and sendText
// (Exercises/Lesson03/Client.swift). It sends each line you type and prints whatever the
// server sends back, as it arrives.
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

        Connects to a TCP server, sends every line you type (as UTF-8, with its newline), and
        prints what the server sends back. At the end of your input (Ctrl-D, or the end of a
        pipe) it shuts down its sending side, prints the rest of the server's answer, and exits.

          --host   the server's address, IPv4 or IPv6 (default 127.0.0.1)
          --port   the server's port (default 8002, where lesson02-server listens)
          --wait   seconds to wait for the server's last words after your input ends (default 2)

        Servers to try: swift run lesson02-server; or nc -l 8002 (then type in both terminals).
        """,
    defaults: ["host": "127.0.0.1", "port": "8002", "wait": "2"])
let options = command.parse()
let host = options["host"]!
let port = command.port(options["port"]!)
let wait = command.seconds(options["wait"]!, flag: "wait")
let address: SocketAddress = host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)

/// Prints everything the server sends, as it comes, until it closes the connection.
func printReplies(from fd: Int32, serverClosed: DispatchSemaphore) {
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            FileHandle.standardOutput.write(Data(buffer.prefix(count)))
            continue
        }
        if count < 0 { command.fail("lost the connection: \(SocketError(call: "recv"))") }
        FileHandle.standardError.write(Data("(the server closed the connection)\n".utf8))
        serverClosed.signal()
        return
    }
}

command.run {
    let fd: Int32
    do {
        fd = try openConnection(to: address)
    } catch let error as SocketError {
        throw DemoError.cannotConnect(to: address, error)
    }
    try? suppressSIGPIPE(on: fd)  // macOS; on Linux your sendAll passes sendNoSignal
    command.prompt("connected to \(address); type lines, Ctrl-D to finish")

    let serverClosed = DispatchSemaphore(value: 0)
    Thread { printReplies(from: fd, serverClosed: serverClosed) }.start()

    while let line = readLine() {
        if line.isEmpty { continue }  // as the tutorial's client does
        do {
            try sendText(fd, line + "\n")
        } catch let error as SocketError {
            throw DemoError("the server is gone: \(error)")
        }
    }
    // End of input: tell the server we are done sending (it reads end-of-file), and give it
    // a moment to answer before we close.
    _ = LibC.shutdown(fd, ShutdownHow.write)
    _ = serverClosed.wait(timeout: .now() + wait)
    _ = close(fd)
}
