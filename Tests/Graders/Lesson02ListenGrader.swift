import GradingHarness
import Lesson02
import SocketKit
import XCTest

/// Grades Exercises/Lesson02/Listener.swift. Checklist rows 3, 4, 5, 6 and 7.
final class Lesson02ListenGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(2)
    }

    // Row 4: a listener on the loopback address it was given, and listening.
    func test1_makeListenerBindsTheAddressGiven() throws {
        try grade {
            let probe = Probe("makeListener(host: \"127.0.0.1\", port: 0) listens on 127.0.0.1")
            let fd = try probe.call("makeListener(host:port:backlog:)", returns: { [$0] }) {
                try makeListener(host: "127.0.0.1", port: 0)
            }
            defer { closeIfOpen(fd) }
            let local = try expectTCPListener(fd, probe: probe)
            guard local.host == "127.0.0.1", local.port != 0 else {
                throw probe.fail(expected: "a listener on 127.0.0.1 (any port: 0 lets the kernel choose)", actual: "a listener on \(local)", hint: .anyAddress)
            }
            // It answers: a client can connect to the address it reports.
            let client = try Peer.client("client", connectingTo: local, transcript: probe.transcript, script: [.send(Array("ping\n".utf8))])
            client.stop()
        }
    }

    // Row 5: the port it was given, in network byte order.
    func test2_makeListenerUsesThePortGiven() throws {
        try grade {
            let probe = Probe("makeListener(host: \"127.0.0.1\", port: P) listens on port P")
            var attempts = 0
            while true {
                attempts += 1
                let port = try FreePort.withFreeByteSwap()
                let outcome = try probe.attempt("makeListener(host:port:backlog:)", returns: { [$0] }) {
                    try makeListener(host: "127.0.0.1", port: port)
                }
                // Someone else took the port between our check and the learner's bind: try another.
                if case .failure(let error as SocketError) = outcome, error.code == EADDRINUSE {
                    guard attempts < 5 else {
                        throw probe.fail(
                            expected: "a listener on a port the harness had just found free",
                            actual: "bind failed with EADDRINUSE 5 times, on 5 different free ports: on a busy machine another program may be taking them, but if this repeats, check that your sin_port is port.bigEndian",
                            hint: .byteOrder)
                    }
                    continue
                }
                let fd = try outcome.get()
                defer { closeIfOpen(fd) }
                let local = try expectTCPListener(fd, probe: probe)
                guard local.port == port else {
                    let swapped = local.port == port.byteSwapped
                    noteWhoAnswers([port, local.port ?? 0], probe: probe)
                    throw probe.fail(
                        expected: "a listener on 127.0.0.1:\(port) (0x\(hex16(port)))",
                        actual: "a listener on \(local)" + (swapped ? " (0x\(hex16(port.byteSwapped)): the two bytes of \(port) swapped)" : ""),
                        hint: swapped ? .byteOrder : .wrongPort)
                }
                return
            }
        }
    }

    // Row 4 again: text that is not an address must not turn into 0.0.0.0.
    func test3_makeListenerRejectsAHostThatIsNotAnAddress() throws {
        try grade {
            let probe = Probe("makeListener(host: \"not.an.address\", port: 0) throws instead of binding something else")
            let outcome = try probe.attempt("makeListener(host:port:backlog:)", returns: { [$0] }) {
                try makeListener(host: "not.an.address", port: 0)
            }
            try expectSocketError(
                outcome, call: "inet_pton", code: EINVAL, probe: probe, function: "makeListener(host:port:backlog:)",
                returnedHint: { _ in .unparsedHost })
        }
    }

    // Rows 3 and 2: a port in use is an error (EADDRINUSE), and the failed attempt leaks nothing.
    func test4_makeListenerReportsAPortInUse() throws {
        try grade {
            let probe = Probe("makeListener on a port another socket is listening on throws EADDRINUSE and leaves nothing open")
            let occupant = try HarnessSocket.listener()
            let port = try occupant.localAddress.port ?? 0
            let outcome = try probe.attempt("makeListener(host:port:backlog:)", returns: { [$0] }) {
                try makeListener(host: "127.0.0.1", port: port)
            }
            // A listener that landed on the swapped port never met the occupant at all.
            if case .success(let fd) = outcome, (try? Inspect.localAddress(fd))?.port == port.byteSwapped, port.byteSwapped != port {
                closeIfOpen(fd)
                throw probe.fail(
                    expected: "makeListener to throw SocketError with EADDRINUSE for port \(port)",
                    actual: "it listened on port \(port.byteSwapped) instead: the two bytes of \(port) swapped",
                    hint: .byteOrder)
            }
            try expectSocketError(outcome, call: "bind", code: EADDRINUSE, probe: probe, function: "makeListener(host:port:backlog:)")
        }
    }

    // Row 6: a restarted server gets its port back while old connections are in TIME_WAIT.
    func test5_makeListenerCanRestartOnTheSamePort() throws {
        try grade {
            let probe = Probe("makeListener can listen again on a port whose last connection is in TIME_WAIT")
            let first = try probe.call("makeListener(host:port:backlog:)", returns: { [$0] }) {
                try makeListener(host: "127.0.0.1", port: 0)
            }
            var firstIsOpen = true
            defer { if firstIsOpen { closeIfOpen(first) } }
            let address = try expectTCPListener(first, probe: probe)

            firstIsOpen = false  // leaveInTimeWait closes it, whatever happens
            try leaveInTimeWait(first, at: address, probe: probe)

            let outcome = try probe.attempt("makeListener(host:port:backlog:) on the same port again", returns: { [$0] }) {
                try makeListener(host: "127.0.0.1", port: address.port ?? 0)
            }
            switch outcome {
            case .success(let second):
                closeIfOpen(second)
            case .failure(let error as SocketError) where error.code == EADDRINUSE:
                throw probe.fail(expected: "a new listener on \(address)", actual: "it threw \(error)", hint: .reuseAddress)
            case .failure(let error):
                throw probe.fail(expected: "a new listener on \(address)", actual: "it threw \(error)", hint: nil)
            }
        }
    }

    // Row 7: each call accepts the next waiting client and says who it is.
    func test6_acceptConnectionReturnsEachClient() throws {
        try grade {
            let probe = Probe("acceptConnection(on:) returns each waiting client, one per call, with its address")
            let listener = try HarnessSocket.listener(ownsAccepted: false)
            let address = try listener.localAddress
            let clients = try (1...2).map { number in
                try Peer.client("client \(number)", connectingTo: address, transcript: probe.transcript, script: [
                    .send(Array("hello from client \(number)\n".utf8)), .receiveUntilClosed(seconds: 2 * Deadline.standard),
                ])
            }
            defer { clients.forEach { $0.stop() } }
            var seen: [Int32] = []
            defer { seen.forEach(closeIfOpen) }
            for call in 1...2 {
                let (connection, peer) = try probe.call(
                    "acceptConnection(on:) (call \(call) of 2)", returns: { [$0.connection] },
                    unblock: { try? listener.shutdown(ShutdownHow.both) }, blockedHint: .acceptOnce,
                    leakHint: { result, _ in result.connection == listener.fd ? .returnTheConnection : nil }
                ) {
                    try acceptConnection(on: listener.fd)
                }
                seen.append(connection)
                guard connection != listener.fd, !seen.dropLast().contains(connection),
                      let greeting = try Inspect.receive(connection, seconds: Deadline.standard) else {
                    throw probe.fail(
                        expected: "a new connection to a client (call \(call))",
                        actual: "it returned \(Inspect.describe(connection))",
                        hint: .returnTheConnection)
                }
                let text = String(decoding: greeting, as: UTF8.self)
                guard let client = clients.first(where: { text.hasPrefix("hello from \($0.name)") }), client.localAddress == peer else {
                    throw probe.fail(
                        expected: "the address of the client on that connection (\(Inspect.peerAddressText(connection)))",
                        actual: "\(peer)",
                        hint: .peerAddress)
                }
            }
        }
    }

    // getsockname reads back what the kernel chose, and reports failure.
    func test7_boundAddressAsksTheKernel() throws {
        try grade {
            for host in ["127.0.0.1", "::1"] {
                let probe = Probe("boundAddress(of:) reads back a listener on \(host), port chosen by the kernel")
                let listener = try HarnessSocket.listener(host: host)
                let expected = try listener.localAddress
                let actual = try probe.call("boundAddress(of:)") { try boundAddress(of: listener.fd) }
                guard actual == expected else {
                    throw probe.fail(expected: "\(expected)", actual: "\(actual)", hint: .askGetsockname)
                }
            }
            let probe = Probe("boundAddress(of: -1) reports the failed getsockname()")
            let outcome = try probe.attempt("boundAddress(of: -1)") { try boundAddress(of: -1) }
            try expectSocketError(outcome, call: "getsockname", code: EBADF, probe: probe, function: "boundAddress(of:)")
        }
    }

    /// The learner's descriptor is a listening TCP/IPv4 socket; returns its address.
    private func expectTCPListener(_ fd: Int32, probe: Probe) throws -> SocketAddress {
        guard Inspect.isSocket(fd) else {
            throw probe.fail(expected: "the descriptor of a listening socket", actual: "it returned \(Inspect.describe(fd))", hint: .returnTheDescriptor)
        }
        guard try Inspect.type(fd) == .stream, try Inspect.family(fd) == .inet else {
            throw probe.fail(expected: "an AF_INET SOCK_STREAM socket", actual: Inspect.describe(fd), hint: .wrongKind)
        }
        guard try Inspect.isListening(fd) else {
            throw probe.fail(expected: "a listening socket (SO_ACCEPTCONN is 1)", actual: "\(Inspect.describe(fd)), not listening", hint: .notListening)
        }
        return try Inspect.localAddress(fd)
    }

    /// Tries to connect to each port and writes who answers into the transcript: the
    /// evidence for a byte-order mistake.
    private func noteWhoAnswers(_ ports: [UInt16], probe: Probe) {
        for port in ports {
            let address = SocketAddress.ipv4(host: "127.0.0.1", port: port)
            let log = probe.transcript.open("harness probes \(address)")
            do {
                let socket = try HarnessSocket.connect(to: address)
                socket.close()
                probe.transcript.record(log, .note("connected: something listens on port \(port)"))
            } catch {
                probe.transcript.record(log, .note("\(error): nothing listens on port \(port)"))
            }
        }
    }
}

private func hex16(_ value: UInt16) -> String { hex(UInt8(value >> 8)) + hex(UInt8(value & 0xFF)) }

extension Inspect {
    static func peerAddressText(_ fd: Int32) -> String {
        (try? peerAddress(fd)).map(String.init(describing:)) ?? "unknown"
    }
}

extension Hint {
    static let anyAddress = Hint("any-address", "Bind the address you were given. 127.0.0.1 (loopback) is reachable only from this machine, which is the safe default; 0.0.0.0 means every interface, open to the network. If bind is never called, listen() binds 0.0.0.0 and a random port by itself.")
    static let byteOrder = Hint("byte-order", "sin_port is in network byte order (most significant byte first), and x86 and ARM store numbers the other way round. Write address.sin_port = port.bigEndian (htons in C).")
    static let wrongPort = Hint("wrong-port", "Put the port you were given into sin_port (as port.bigEndian); 0 means \"any port\".")
    static let unparsedHost = Hint("unchecked-inet-pton", "inet_pton returns 1 when it understood the text, 0 when it is not an address (and -1 for a bad family). If you ignore the 0, sin_addr stays all zeros: 0.0.0.0, every interface. Throw SocketError(call: \"inet_pton\", code: EINVAL) instead.")
    static let reuseAddress = Hint("reuse-address", "After a server closes a connection, the port stays in TIME_WAIT for up to a minute, and bind fails with EADDRINUSE. Set SO_REUSEADDR to 1 with setsockopt after socket() and before bind() (the order matters: set after bind, it is too late).")
    static let notListening = Hint("not-listening", "After bind, call listen(fd, backlog): only then does the kernel accept connections for you and does SO_ACCEPTCONN read 1.")
    static let acceptOnce = Hint("accept-once", "Each call to acceptConnection should call accept() once and return what it gave. accept() blocks until a client is waiting, so an extra call (or a loop) waits for a client that never comes.")
    static let returnTheConnection = Hint("return-connection", "accept() returns a new descriptor for this one client; the listener stays as it was, listening for the next. Return the new one.")
    static let peerAddress = Hint("peer-address", "Return the address accept() wrote into your sockaddr_storage: SocketAddress(storage: storage, length: length), with the length accept() gave back.")
    static let askGetsockname = Hint("ask-getsockname", "Ask the kernel with getsockname(fd, pointer, &length) and convert the storage with SocketAddress(storage:length:); the port it reports is the one the kernel chose for port 0.")
}
