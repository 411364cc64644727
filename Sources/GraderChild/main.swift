// grader-child: runs one piece of a learner's code in a process of its own, for the checks
// whose failure would kill the process (a send that dies of SIGPIPE). The graders start it
// with ChildProcess.run and read how it ended.
//
//     grader-child send-after-reset PORT
//     grader-child echo-clients PORT COUNT
//
// echo-clients is the load for the echo server demos: COUNT clients in a row, in turn one
// that is echoed, one that resets mid-message, one that vanishes mid-message, one that
// says nothing. It checks the echoed ones.
//
// Exit status: 0 the learner's code returned or threw (the first line says which),
// 3 the exercise is not started, 2 the scenario could not be set up.
import Foundation
import Lesson03
import SocketKit

/// One line on stdout, then exit.
func finish(_ status: Int32, _ line: String) -> Never {
    print(line)
    fflush(nil)
    exit(status)
}

// A test process may have SIGPIPE ignored, and ignored signals are inherited: undo that,
// so a send without MSG_NOSIGNAL dies here exactly as it would in the learner's program.
signal(SIGPIPE, SIG_DFL)

/// A connection to 127.0.0.1:`port`, or exit 2.
func connectToLoopback(_ port: UInt16) -> Int32 {
    let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
    let connected = try? SocketAddress.ipv4(host: "127.0.0.1", port: port).withSockAddr { connect(fd, $0, $1) }
    guard fd >= 0, connected == 0 else { finish(2, "setup: \(SocketError(call: "connect"))") }
    return fd
}

/// Runs `count` clients of an echo server one after another; exit 0 if every client that
/// waited for its echo got it back exactly.
func echoClients(port: UInt16, count: Int) -> Never {
    var echoed = 0
    for number in 0..<count {
        let fd = connectToLoopback(port)
        let message = Array("client \(number) says hello\n".utf8)
        switch number % 4 {
        case 0:  // a polite client: sends a line, reads it back, closes
            _ = message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
            var reply: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 256)
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while reply.count < message.count, poll(&entry, 1, 2000) == 1 {
                let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if got <= 0 { break }
                reply += buffer.prefix(got)
            }
            guard reply == message else { finish(1, "client \(number): sent \(escaped(message)), got back \(escaped(reply))") }
            echoed += 1
        case 1:  // resets in the middle of a message
            _ = message.prefix(7).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
            var linger = SocketKit.linger(l_onoff: 1, l_linger: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<SocketKit.linger>.size))
        case 2:  // vanishes in the middle of a message
            _ = message.prefix(7).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
        default:  // connects, says nothing, leaves
            break
        }
        _ = close(fd)
    }
    finish(0, "\(count) clients: \(echoed) echoed correctly, \(count - echoed) reset, vanished or stayed silent")
}

let arguments = Array(CommandLine.arguments.dropFirst())
let port = arguments.count > 1 ? UInt16(arguments[1]) : nil
switch (arguments.first, port) {
case ("echo-clients", let port?):
    guard arguments.count > 2, let count = Int(arguments[2]), count > 0 else { finish(2, "usage: grader-child echo-clients PORT COUNT") }
    echoClients(port: port, count: count)
case ("send-after-reset", let port?):
    // Connect to the harness's server, which resets the connection at once. Read the
    // reset (recv fails with ECONNRESET, which clears it), so that the learner's next send
    // meets a connection that is gone: EPIPE, and SIGPIPE unless it is suppressed.
    let fd = connectToLoopback(port)
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&entry, 1, 2000) == 1 else { finish(2, "setup: the harness never reset the connection") }
    var byte: UInt8 = 0
    _ = recv(fd, &byte, 1, 0)
    do {
        try sendAll(fd, Array("are you still there?\n".utf8))
        finish(0, "returned")
    } catch let notStarted as NotStarted {
        finish(3, "\(notStarted)")
    } catch {
        finish(0, "threw \(error)")
    }
default:
    finish(2, "usage: grader-child send-after-reset PORT | echo-clients PORT COUNT")
}
