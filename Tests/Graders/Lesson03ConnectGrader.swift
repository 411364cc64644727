import Foundation
import GradingHarness
import Lesson03
import SocketKit
import XCTest

/// Grades Exercises/Lesson03/Client.swift. Checklist rows 3, 8, 9, 17 (and 26 for connect).
final class Lesson03ConnectGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(3)
    }

    // openConnection reaches a listening server, over IPv4 and IPv6.
    func test1_openConnectionConnects() throws {
        try grade {
            for host in ["127.0.0.1", "::1"] {
                let probe = Probe("openConnection(to:) connects to a server listening on \(host)")
                let (server, address) = try Peer.server("server", host: host, transcript: probe.transcript, script: [.receiveUntilClosed(seconds: 2)])
                defer { server.stop() }
                let fd = try probe.call(
                    "openConnection(to: \(address))", returns: { [$0] },
                    errorHint: { error in
                        let code = (error as? SocketError)?.code
                        return code == EAFNOSUPPORT || code == EINVAL ? .addressFamily : nil
                    }
                ) {
                    try openConnection(to: address)
                }
                defer { closeIfOpen(fd) }
                guard Inspect.isSocket(fd), let peer = try? Inspect.peerAddress(fd), peer == address else {
                    throw probe.fail(expected: "a socket connected to \(address)", actual: "it returned \(Inspect.describe(fd))", hint: .returnTheDescriptor)
                }
            }
        }
    }

    // Row 9: a refused connection is an error, and leaves nothing open (row 3).
    func test2_openConnectionReportsRefusal() throws {
        try grade {
            let probe = Probe("openConnection(to:) a port where nothing listens throws ECONNREFUSED and leaves nothing open")
            let closed = try ClosedPort()
            let outcome = try probe.attempt("openConnection(to: \(closed.address))", returns: { [$0] }) {
                try openConnection(to: closed.address)
            }
            try expectSocketError(outcome, call: "connect", code: ECONNREFUSED, probe: probe, function: "openConnection(to:)")
        }
    }

    // Row 9: the connect_ex style hands the error back as a value.
    func test3_connectExReturnsTheErrorCode() throws {
        try grade {
            let probe = Probe("connectEx(_:to:) returns ECONNREFUSED as a value for a closed port, and 0 for an open one")
            let closed = try ClosedPort()
            let socket = try HarnessSocket.make()
            let outcome = try probe.attempt("connectEx(_:to: \(closed.address))") { try connectEx(socket.fd, to: closed.address) }
            switch outcome {
            case .failure(let error):
                throw probe.fail(expected: "the value ECONNREFUSED (\(ECONNREFUSED))", actual: "it threw \(error)", hint: .connectExThrows)
            case .success(ECONNREFUSED):
                break
            case .success(let value):
                let shown = value == -1 ? "-1 (connect's own return value)" : "\(value) (\(errnoName(value)))"
                throw probe.fail(
                    expected: "the value ECONNREFUSED (\(ECONNREFUSED))", actual: "it returned \(shown)",
                    hint: value == 0 ? .uncheckedResult("connect") : .connectExErrno)
            }

            let (server, address) = try Peer.server("server", transcript: probe.transcript, script: [.receiveUntilClosed(seconds: 2)])
            defer { server.stop() }
            let fresh = try HarnessSocket.make()
            let result = try probe.call("connectEx(_:to: \(address))") { try connectEx(fresh.fd, to: address) }
            guard result == 0, (try? Inspect.peerAddress(fresh.fd)) == address else {
                throw probe.fail(expected: "0, and the socket connected to \(address)", actual: "it returned \(result): \(Inspect.describe(fresh.fd))", hint: .connectExErrno)
            }
        }
    }

    // Row 8: send takes only part of a large payload when the peer is slow; everything must arrive.
    func test4_sendAllSendsEveryByteThroughShortWrites() throws {
        try grade {
            let payload = Self.payload
            for mode in [SendMode.sendTimeout, .nonBlocking] {
                let probe = Probe("sendAll(_:_:) delivers 4 MiB to a slow reader (\(mode.description)), every byte in order")
                let (reader, address) = try Peer.server("slow reader", transcript: probe.transcript, script: [
                    // Measured on loopback: below about 16 KB the window stalls and the kernel's
                    // persist timer makes it crawl; 32 KB still gives about 130 short writes.
                    .receiveBuffer(32768), .drain(chunk: 16384, gap: 0.001, seconds: 30),
                ])
                defer { reader.stop() }
                let sender = try HarnessSocket.connect(to: address)
                try sender.setOption(SOL_SOCKET, SO_SNDBUF, 32768, "SO_SNDBUF")
                try mode.apply(to: sender.fd)
                let outcome = try probe.attempt("sendAll(_:_:) with 4 MiB", seconds: 30, unblock: { try? sender.shutdown(ShutdownHow.both) }) {
                    try sendAll(sender.fd, payload)
                }
                // End-of-file: the reader stops at what it got.
                reader.note("sendAll ended; the harness shut down the sending side of your socket")
                try sender.shutdown(ShutdownHow.write)
                reader.wait(seconds: 30)
                let received = reader.received
                if case .failure(let error) = outcome {
                    let eagain = (error as? SocketError).map { $0.code == EAGAIN || $0.code == EWOULDBLOCK } ?? false
                    throw probe.fail(
                        expected: "sendAll to return after writing all \(payload.count) bytes",
                        actual: "it threw \(error) after the reader had \(received.count) bytes",
                        hint: eagain ? .sendAgain : nil)
                }
                if let difference = difference(expected: payload, actual: received) {
                    let short = received.count < payload.count && Array(payload.prefix(received.count)) == received
                    throw probe.fail(
                        expected: "\(payload.count) bytes, digest \(digest(payload))",
                        actual: "\(difference); digest \(digest(received))",
                        hint: short ? .sendOnce : .sendOffset)
                }
            }
        }
    }

    // Text goes out as UTF-8 bytes, all of them.
    func test5_sendTextSendsUTF8() throws {
        try grade {
            let text = "你好, socket! ünïcödé\n"
            let probe = Probe("sendText(_:_:) sends \"你好, socket! ünïcödé\\n\" as its \(text.utf8.count) UTF-8 bytes")
            let (reader, address) = try Peer.server("reader", transcript: probe.transcript, script: [.receiveUntilClosed(seconds: 4)])
            defer { reader.stop() }
            let sender = try HarnessSocket.connect(to: address)
            try probe.call("sendText(_:_:)") { try sendText(sender.fd, text) }
            try sender.shutdown(ShutdownHow.write)
            reader.wait(seconds: 4)
            if let difference = difference(expected: Array(text.utf8), actual: reader.received) {
                throw probe.fail(expected: "\(text.utf8.count) bytes \(escaped(Array(text.utf8)))", actual: difference, hint: .utf8Length)
            }
        }
    }

    // Row 17: writing to a connection the peer has reset must not kill the program.
    func test6_sendAllSurvivesAResetPeer() throws {
        try grade {
            let probe = Probe("sendAll(_:_:) to a peer that reset the connection throws (EPIPE) instead of killing the process")
            let (server, address) = try Peer.server("server", transcript: probe.transcript, script: [.reset])
            defer { server.stop() }
            // In a child process: if SIGPIPE kills it, only the child dies.
            let (ending, output) = try ChildProcess.run(["send-after-reset", "\(address.port!)"])
            let line = output.split(separator: "\n").first.map(String.init) ?? ""
            switch ending {
            case .exited(0) where line.hasPrefix("threw"):
                return
            case .exited(3):
                throw NotStarted(fileID: "Lesson03/Client.swift", function: "sendAll(_:_:)")
            case .killedBy(SIGPIPE):
                throw probe.fail(expected: "sendAll to throw SocketError (EPIPE)", actual: "the process \(ending)", hint: .sigpipe)
            case .exited(0):
                throw probe.fail(expected: "sendAll to throw SocketError (EPIPE)", actual: "it \(line): the failed send went unnoticed", hint: .uncheckedResult("send"))
            default:
                throw probe.fail(expected: "sendAll to throw SocketError (EPIPE)", actual: "grader-child \(ending): \(output)", hint: nil)
            }
        }
    }

    /// 4 MiB of bytes that differ from their neighbours, so a resent or skipped piece shows
    /// up. Made once, with a plain loop (a `map` over 4 million numbers is slow in a debug build).
    static let payload: [UInt8] = [UInt8](unsafeUninitializedCapacity: 4 << 20) { buffer, count in
        for index in 0..<buffer.count { buffer[index] = UInt8(truncatingIfNeeded: index &* 31 &+ (index >> 11)) }
        count = buffer.count
    }
}

/// How the learner's socket is made to take only part of each write.
private enum SendMode: CustomStringConvertible {
    case sendTimeout, nonBlocking

    var description: String {
        self == .sendTimeout ? "a blocking socket with a 50 ms send timeout" : "a non-blocking socket"
    }

    func apply(to fd: Int32) throws {
        switch self {
        case .sendTimeout:
            // Far shorter than the whole transfer takes, so one send cannot write it all.
            var timeout = timeval(tv_sec: 0, tv_usec: .init(50_000))
            guard setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
                throw SocketError(call: "setsockopt(SO_SNDTIMEO)")
            }
        case .nonBlocking:
            guard fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 else { throw SocketError(call: "fcntl") }
        }
    }
}

/// A port where nothing listens, held so that nobody else can start listening there: a
/// socket bound to it but never listening. Connecting there is refused at once.
struct ClosedPort {
    let holder: HarnessSocket
    let address: SocketAddress

    init() throws {
        let socket = try HarnessSocket.make()
        try SocketAddress.ipv4(host: "127.0.0.1", port: 0).withSockAddr { pointer, length in
            guard bind(socket.fd, pointer, length) == 0 else { throw SocketError(call: "bind") }
        }
        holder = socket
        address = try socket.localAddress
    }
}

extension Hint {
    static let addressFamily = Hint("address-family", "Create the socket in the address's own family: socket(address.family.rawValue, ...). An AF_INET socket cannot connect to an IPv6 address like ::1, nor AF_INET6 to 127.0.0.1 unless mapped.")
    static let connectExThrows = Hint("connect-ex-throws", "connect_ex reports a failed connect as a value, not an error: return errno (ECONNREFUSED) instead of throwing. Callers use it to try a port and move on.")
    static let connectExErrno = Hint("connect-ex-errno", "Return 0 when connect returned 0, and errno (read at once) when it returned -1. The -1 itself says nothing about why.")
    static let sendOnce = Hint("send-once", "send() returns how many bytes it took, which can be fewer than you gave it: here the reader was slow and the buffers were full. Loop until the total sent equals the length, as Python's sendall does.")
    static let sendOffset = Hint("send-offset", "After a partial send, carry on from where it stopped: pass the base address plus the bytes sent so far, and the length minus them. Starting again from the beginning sends some bytes twice.")
    static let sendAgain = Hint("send-again", "EAGAIN (EWOULDBLOCK) means the send buffer is full right now, not that the connection failed: wait until the socket is writable (poll with POLLOUT), then send the rest.")
    static let utf8Length = Hint("utf8-length", "Send the UTF-8 bytes: Array(text.utf8). text.count counts Characters; \"你好\" is 2 Characters but 6 bytes, so a length of text.count cuts the message short.")
    static let sigpipe = Hint("sigpipe", "Writing to a connection the peer has reset raises SIGPIPE, which kills a Swift program on the spot (exit status 141). Pass sendNoSignal (MSG_NOSIGNAL on Linux) as send's flags; then send returns -1 with EPIPE, and you can throw. On macOS set SO_NOSIGPIPE on the socket once (suppressSIGPIPE(on:)).")
}
