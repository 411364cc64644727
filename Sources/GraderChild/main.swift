// grader-child: runs one piece of a learner's code in a process of its own, for the checks
// whose failure would kill the process (a send that dies of SIGPIPE). The graders start it
// with ChildProcess.run and read how it ended.
//
//     grader-child send-after-reset PORT
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

let arguments = CommandLine.arguments.dropFirst()
switch (arguments.first, arguments.dropFirst().first.flatMap(UInt16.init)) {
case ("send-after-reset", let port?):
    // Connect to the harness's server, which resets the connection at once. Read the
    // reset (recv fails with ECONNRESET, which clears it), so that the learner's next send
    // meets a connection that is gone: EPIPE, and SIGPIPE unless it is suppressed.
    let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
    let connected = try? SocketAddress.ipv4(host: "127.0.0.1", port: port).withSockAddr { connect(fd, $0, $1) }
    guard fd >= 0, connected == 0 else { finish(2, "setup: \(SocketError(call: "connect"))") }
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
    finish(2, "usage: grader-child send-after-reset PORT")
}
