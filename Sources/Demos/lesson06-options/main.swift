// Lesson 6 demo: a socket's options before and after YOUR setters
// (Exercises/Lesson06/Options.swift), then the cost of Nagle's algorithm, measured.
//
//     swift run lesson06-options
import DemoSupport
import Foundation
import Lesson06
import SocketKit

let command = DemoCommand(
    name: "lesson06-options",
    help: """
        usage: swift run lesson06-options [--rounds 20] [--host 127.0.0.1]

        1. Makes a TCP socket, prints its options as the kernel reports them, sets them with
           your setReuseAddress, setKeepAlive, setNoDelay, setBufferSizes, setTimeout and
           setBlocking, and prints them again.
        2. Starts a small server on --host (your makeReusableListener), connects to it
           (your openConnection(to:timeout:)), and times request/response round trips where
           the request is written in two small pieces: first as the socket comes, then after
           your setNoDelay(_:true).

          --rounds  round trips to time each way, 1 to 1000 (default 20)
          --host    where the small server listens, IPv4 or IPv6, or a name such as
                    localhost (its first address) (default 127.0.0.1)
        """,
    defaults: ["rounds": "20", "host": "127.0.0.1"])
let options = command.parse()
let rounds = command.count(options["rounds"], flag: "rounds", range: 1...1000)
let serverAddress = command.address(host: options["host"], port: 0, passive: true)

/// What the kernel says, read with getsockopt (the demo's own reading, not your code).
func kernelSays(_ fd: Int32) -> [(String, String)] {
    func int(_ level: Int32, _ name: Int32) -> String {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, level, name, &value, &length) == 0 ? "\(value)" : "?"
    }
    func time(_ name: Int32) -> String {
        var value = timeval()
        var length = socklen_t(MemoryLayout<timeval>.size)
        guard getsockopt(fd, SOL_SOCKET, name, &value, &length) == 0 else { return "?" }
        let seconds = Double(value.tv_sec) + Double(value.tv_usec) / 1_000_000
        return seconds == 0 ? "none" : "\(seconds) s"
    }
    return [
        ("SO_REUSEADDR", int(SOL_SOCKET, SO_REUSEADDR)),
        ("SO_KEEPALIVE", int(SOL_SOCKET, SO_KEEPALIVE)),
        ("TCP_NODELAY", int(Int32(IPPROTO_TCP), TCP_NODELAY)),
        ("SO_RCVBUF", int(SOL_SOCKET, SO_RCVBUF)),
        ("SO_SNDBUF", int(SOL_SOCKET, SO_SNDBUF)),
        ("SO_RCVTIMEO", time(SO_RCVTIMEO)),
        ("SO_SNDTIMEO", time(SO_SNDTIMEO)),
        ("O_NONBLOCK", fcntl(fd, F_GETFL) & O_NONBLOCK != 0 ? "1" : "0"),
    ]
}

func showOptions() throws {
    let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    defer { _ = close(fd) }
    let before = kernelSays(fd)
    try setReuseAddress(fd, true)
    try setKeepAlive(fd, true)
    try setNoDelay(fd, true)
    let sizes = try setBufferSizes(fd, receive: 32768, send: 32768)
    try setTimeout(fd, 2.5)
    try setBlocking(fd, false)
    let after = kernelSays(fd)
    command.say("A new TCP socket, as the kernel reports it, before and after your setters:\n")
    command.say("  option        before     after")
    for ((name, old), (_, new)) in zip(before, after) {
        command.say("  " + name.padding(toLength: 14, withPad: " ", startingAt: 0) + old.padding(toLength: 11, withPad: " ", startingAt: 0) + new)
    }
    command.say("\nsetBufferSizes asked for 32768 each and reports \(sizes.receive) / \(sizes.send): the kernel doubles what you ask.")
    command.say("timeout(of:) says \(try timeout(of: fd).map { "\($0) s" } ?? "none"); isListening says \(try isListening(fd)).")
}

/// A server that answers "ok" to every 10-byte request, on a thread of its own.
func startServer() throws -> SocketAddress {
    let listener = try makeReusableListener(on: serverAddress)
    let address = try localAddress(of: listener)
    Thread {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            var request = [UInt8](repeating: 0, count: 10)
            serving: while true {
                var got = 0
                while got < 10 {
                    let count = request.withUnsafeMutableBytes { recv(connection, $0.baseAddress! + got, 10 - got, 0) }
                    if count <= 0 { break serving }
                    got += count
                }
                _ = send(connection, "ok", 2, sendNoSignal)
            }
            _ = close(connection)
        }
    }.start()
    return address
}

/// Median milliseconds of write("head!"), write("body!"), read the answer.
func roundTrips(_ fd: Int32) throws -> (median: Double, all: [Double]) {
    var times: [Double] = []
    var answer = [UInt8](repeating: 0, count: 2)
    for _ in 0..<rounds {
        let started = Date()
        guard send(fd, "head!", 5, sendNoSignal) == 5, send(fd, "body!", 5, sendNoSignal) == 5 else { throw SocketError(call: "send") }
        guard recv(fd, &answer, 2, Int32(MSG_WAITALL)) == 2 else { throw SocketError(call: "recv") }
        times.append(Date().timeIntervalSince(started) * 1000)
    }
    return (times.sorted()[rounds / 2], times)
}

command.run {
    try showOptions()
    let address = try startServer()
    command.say("\nRequest/response over \(address), the request written as two small pieces, \(rounds) times each way:\n")
    let fd = try openConnection(to: address, timeout: 2)
    defer { _ = close(fd) }
    // The demo's own server always answers; still, no wait without an end: 5 s per answer.
    try setSocketTimeouts(fd, receive: 5, send: 5)
    let nagle = try roundTrips(fd)
    try setNoDelay(fd, true)
    let noDelay = try roundTrips(fd)
    for (label, result) in [("as it comes (Nagle on)", nagle), ("with TCP_NODELAY", noDelay)] {
        let bar = String(repeating: "#", count: Int(min(60, max(0, result.median)).rounded()))  // never traps: 0 to 60
        command.say("  " + label.padding(toLength: 24, withPad: " ", startingAt: 0) + String(format: "median %7.3f ms  ", result.median) + bar)
    }
    command.say("""

        Without TCP_NODELAY the second piece waits until the first is acknowledged, and the
        server delays that ACK (about 40 ms on Linux), hoping to send it along with an answer.
        """)
}
