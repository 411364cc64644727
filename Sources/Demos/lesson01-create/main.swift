// Lesson 1 demo: one socket of each kind, made and inspected by YOUR functions in
// Exercises/Lesson01/CreateSocket.swift.
//
//     swift run lesson01-create
//     WORKBOOK_SOLUTIONS=1 swift run lesson01-create     (the reference answers)
import DemoSupport
import Lesson01
import SocketKit

let command = DemoCommand(
    name: "lesson01-create",
    help: """
        usage: swift run lesson01-create

        Creates a socket of each family and type with your openSocket(family:type:), asks the
        kernel what each one is with your socketFamily(of:) and socketType(of:), shows the
        error for a family that does not exist, and closes them all with your closeSocket(_:).
        """,
    defaults: [:])
_ = command.parse()

let kinds: [(AddressFamily, SocketType, String)] = [
    (.inet, .stream, "TCP over IPv4"),
    (.inet, .datagram, "UDP over IPv4"),
    (.inet6, .stream, "TCP over IPv6"),
    (.inet6, .datagram, "UDP over IPv6"),
    (.unix, .stream, "a stream between processes on this machine"),
    (.unix, .datagram, "datagrams between processes on this machine"),
]

func column(_ text: String, _ width: Int) -> String {
    text.padding(toLength: max(width, text.count + 1), withPad: " ", startingAt: 0)
}

command.run {
    command.say("socket(family, type, 0) for each kind; then the kernel is asked what it made.\n")
    command.say(column("asked for", 24) + column("fd", 5) + column("kernel says", 24) + "what it is")
    var open: [Int32] = []
    for (family, type, meaning) in kinds {
        let fd = try openSocket(family: family, type: type)
        open.append(fd)
        let told = "\(try socketFamily(of: fd)) \(try socketType(of: fd))"
        command.say(column("\(family) \(type)", 24) + column("\(fd)", 5) + column(told, 24) + meaning)
    }

    command.say("\nThe descriptors are small numbers: 0, 1 and 2 are stdin, stdout and stderr, so sockets start at 3.")
    command.say("\nA family that does not exist (4242):")
    do {
        let fd = try openSocket(family: AddressFamily(rawValue: 4242), type: .stream)
        open.append(fd)
        command.say("  openSocket returned \(fd): it should have thrown (socket() returned -1)")
    } catch {
        command.say("  openSocket threw: \(error)")
    }

    for fd in open where fd >= 0 { try closeSocket(fd) }
    command.say("\nClosed \(open.count) sockets with closeSocket(_:).")
}
