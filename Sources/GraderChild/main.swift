// grader-child: the load for the echo server demos (.ci/check-demos), and for anyone who
// wants to see their lesson 4 server survive rude clients.
//
//     grader-child echo-clients PORT COUNT
//
// COUNT clients in a row, in turn one that is echoed, one that resets mid-message, one that
// vanishes mid-message, one that says nothing. It checks the echoed ones.
// Exit status: 0 every client that waited for its echo got it back exactly, 1 one did not,
// 2 the load could not be set up (a bad argument, no server).
//
// (It used to run lesson 3's sendAll checks too; they now run in a child copy of the test
// bundle, Tests/Graders/Support/Lesson03Child.swift, which costs a check no second build.)
import Foundation
import SocketKit

/// One line on stdout, then exit.
func finish(_ status: Int32, _ line: String) -> Never {
    print(line)
    fflush(nil)
    exit(status)
}

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
guard arguments.count == 3, arguments[0] == "echo-clients", let port = UInt16(arguments[1]), let count = Int(arguments[2]), count > 0 else {
    FileHandle.standardError.write(Data("usage: grader-child echo-clients PORT COUNT\n".utf8))
    exit(2)
}
echoClients(port: port, count: count)
