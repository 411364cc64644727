import Foundation
import GradingHarness
import Lesson02
import SocketKit
import XCTest

/// Grades Exercises/Lesson02/Listener.swift. Checklist rows 2, 3, 4, 5, 6 and 7.
///
/// Addresses vary over 127.0.0.0/8 (127.0.0.1, 127.0.0.2 and one drawn from the seed), and
/// over ::1 wherever a function returns an address; every call that must succeed runs with a
/// stale errno planted first; every way makeListener can throw (a host that does not parse,
/// a port in use, an address not on this machine, a full descriptor table) must leave
/// nothing open; accept and getsockname are given a closed positive descriptor, a pipe and
/// sockets that are not listening, not only -1.
final class Lesson02ListenGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(2)
    }

    static let makeListenerName = "makeListener(host:port:backlog:)"

    // Row 4: a listener on the loopback address it was given, and listening: 127.0.0.1, and
    // two other addresses of 127.0.0.0/8 (a fixed loopback address hides them all).
    func test1_makeListenerBindsTheAddressGiven() throws {
        try grade {
            let random = GradingSeed.generator(for: "makeListener(host:port:backlog:) hosts")
            var hosts = ["127.0.0.1", Loopback.fixed(2), Loopback.seeded(random)]
            hosts = hosts.enumerated().filter { !hosts.prefix($0.offset).contains($0.element) }.map(\.element)
            for host in hosts {
                let probe = Probe("makeListener(host: \"\(host)\", port: 0) listens on \(host)")
                let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let outcome = try probe.run(Self.makeListenerName, returns: { [$0] }, stale: stale) {
                    try makeListener(host: host, port: 0)
                }
                let fd = try probe.succeeded(outcome, Self.makeListenerName, stale: stale, errorHint: Self.listenerErrorHint)
                defer { closeIfOpen(fd) }
                let local = try expectTCPListener(fd, probe: probe)
                guard local.host == host, local.port != 0 else {
                    throw probe.fail(
                        expected: "a listener on \(host) (any port: 0 lets the kernel choose)", actual: "a listener on \(local)",
                        hint: local.host == "0.0.0.0" ? .anyAddress : .hostIgnored)
                }
                // It answers: a client can connect to the address it reports.
                let client = try Peer.client("client", connectingTo: local, transcript: probe.transcript, script: [.send(Array("ping\n".utf8))])
                client.stop()
            }
        }
    }

    /// What a makeListener that failed for a good host and a free port got wrong, from its error.
    static func listenerErrorHint(_ error: any Error) -> Hint? {
        guard let error = error as? SocketError else { return nil }
        if error.call.hasPrefix("inet_") { return .inetPtonRefusedAGoodHost }
        if error.call.hasPrefix("setsockopt") { return .optionIsAnInt32 }
        switch (error.call.hasPrefix("bind"), error.code) {
        case (_, EADDRNOTAVAIL): return .addressBytesSwapped
        case (_, EADDRINUSE): return .byteOrder
        case (true, EINVAL): return .bindBeforeListen
        default: return nil
        }
    }

    // 0 is a descriptor: with standard input closed, the listener's socket gets it.
    func test1b_makeListenerReturnsDescriptorZero() throws {
        try grade {
            let probe = Probe("makeListener(host: \"127.0.0.1\", port: 0) with descriptor 0 free (standard input closed, as in a daemon)")
            let zero = DescriptorZeroFree()
            defer { zero.restore() }
            let outcome = try probe.run(Self.makeListenerName, returns: { [$0] }, stale: .cleared) {
                try makeListener(host: "127.0.0.1", port: 0)
            }
            try expectDescriptorZeroAccepted(outcome, probe: probe, function: Self.makeListenerName)
            let fd = try probe.succeeded(outcome, Self.makeListenerName, stale: .cleared, errorHint: Self.listenerErrorHint)
            defer { closeIfOpen(fd) }
            _ = try expectTCPListener(fd, probe: probe)
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
                let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let outcome = try probe.run(Self.makeListenerName, returns: { [$0] }, stale: stale) {
                    try makeListener(host: "127.0.0.1", port: port)
                }
                // Someone else took the port between our check and the learner's bind: try another.
                if outcome.socketError?.code == EADDRINUSE, outcome.leaked.isEmpty {
                    guard attempts < 5 else {
                        throw probe.fail(
                            expected: "a listener on a port the harness had just found free",
                            actual: "bind failed with EADDRINUSE 5 times, on 5 different free ports: on a busy machine another program may be taking them, but if this repeats, check that your sin_port is port.bigEndian",
                            hint: .byteOrder)
                    }
                    continue
                }
                let fd = try probe.succeeded(outcome, Self.makeListenerName, stale: stale, errorHint: Self.listenerErrorHint)
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

    // Row 4 again: text that is not an IPv4 address must not turn into 0.0.0.0, or into
    // anything else: a name, an octet past 255 (drawn from the seed), the empty string
    // (Python's "every interface"), an IPv6 address. Nothing is left open.
    func test3_makeListenerRejectsAHostThatIsNotAnAddress() throws {
        try grade {
            let random = GradingSeed.generator(for: "makeListener(host:port:backlog:) bad hosts")
            let pastRange = "127.\(random.int(in: 0...255)).\(random.int(in: 0...255)).\(random.int(in: 256...999))"
            for host in ["not.an.address", pastRange, "localhost", "", "::1"] {
                let probe = Probe("makeListener(host: \"\(host)\", port: 0) throws instead of binding something else")
                let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let outcome = try probe.run(Self.makeListenerName, returns: { [$0] }, stale: stale) {
                    try makeListener(host: host, port: 0)
                }
                try probe.expectFailure(
                    outcome, calls: ["inet_pton", "inet_aton", "inet_addr"], code: EINVAL, stale: stale, function: Self.makeListenerName,
                    returnedHint: { Self.badHostHint(host, listener: $0) },
                    wrongCodeHint: { $0.call.hasPrefix("inet_") ? .inetPtonSetsNoErrno : nil })
            }
        }
    }

    /// A listener came back for a host that is not an IPv4 address: what it was bound to says why.
    static func badHostHint(_ host: String, listener fd: Int32) -> Hint {
        let local = try? Inspect.localAddress(fd)
        if local?.family == .inet6 { return .ipv4OnlyByItsDoc }
        if local?.host == "0.0.0.0" || local == nil { return host.isEmpty ? .emptyHostIsNotAny : .unparsedHost }
        return host == "localhost" ? .numericHostOnly : .hostIgnored
    }

    /// A listener came back where makeListener had to fail for `host`:`port`: if it is not
    /// on that address at all, that is the mistake to name.
    static func elsewhereHint(_ host: String, _ port: UInt16, listener fd: Int32) -> Hint? {
        guard let local = try? Inspect.localAddress(fd) else { return nil }
        // On another port than the one asked for, at 0.0.0.0: bind failed unnoticed, and
        // listen() bound an address and port by itself.
        if local.host == "0.0.0.0" { return local.port == port ? .anyAddress : .uncheckedResult("bind") }
        if local.host != host { return .hostIgnored }
        if port != 0, local.port == port.byteSwapped, port.byteSwapped != port { return .byteOrder }
        if port != 0, local.port != port { return .portFallback }
        return nil
    }

    // Rows 3 and 2: every way makeListener can fail throws the error of the call that failed
    // and leaves nothing open: a port a harness listener holds, a port its own earlier
    // listener holds (SO_REUSEPORT would share it), an address that is not on this machine,
    // and a full descriptor table.
    func test4_makeListenerReportsFailuresAndLeavesNothingOpen() throws {
        try grade {
            let random = GradingSeed.generator(for: "makeListener(host:port:backlog:) failures")
            try portHeldByTheHarness(host: Loopback.seeded(random))
            try portHeldByItsOwnListener(host: Loopback.seeded(random))
            try addressNotOnThisMachine(random)
            try descriptorTableFull(host: Loopback.seeded(random))
        }
    }

    private func portHeldByTheHarness(host: String) throws {
        let probe = Probe("makeListener on \(host):P, where a harness listener already listens, throws EADDRINUSE and leaves nothing open")
        let occupant = try HarnessSocket.listener(host: host)
        defer { occupant.close() }
        let port = try occupant.localAddress.port ?? 0
        let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
        let outcome = try probe.run(Self.makeListenerName, returns: { [$0] }, stale: stale) {
            try makeListener(host: host, port: port)
        }
        // A listener that landed on the swapped port never met the occupant at all.
        if case .success(let fd) = outcome.result, (try? Inspect.localAddress(fd))?.port == port.byteSwapped, port.byteSwapped != port {
            closeIfOpen(fd)
            throw probe.fail(
                expected: "makeListener to throw SocketError with EADDRINUSE for port \(port)",
                actual: "it listened on port \(port.byteSwapped) instead: the two bytes of \(port) swapped",
                hint: .byteOrder)
        }
        try probe.expectFailure(
            outcome, calls: ["bind"], code: EADDRINUSE, stale: stale, function: Self.makeListenerName,
            returnedHint: { Self.elsewhereHint(host, port, listener: $0) })
    }

    private func portHeldByItsOwnListener(host: String) throws {
        let probe = Probe("makeListener on \(host):P, where its own earlier listener listens, throws EADDRINUSE")
        let firstStale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
        let first = try probe.succeeded(
            probe.run(Self.makeListenerName, returns: { [$0] }, stale: firstStale) { try makeListener(host: host, port: 0) },
            Self.makeListenerName, stale: firstStale, errorHint: Self.listenerErrorHint)
        defer { closeIfOpen(first) }
        let address = try expectTCPListener(first, probe: probe)
        let port = address.port ?? 0
        let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
        let outcome = try probe.run("\(Self.makeListenerName) again on \(address)", returns: { [$0] }, stale: stale) {
            try makeListener(host: host, port: port)
        }
        try probe.expectFailure(
            outcome, calls: ["bind"], code: EADDRINUSE, stale: stale, function: Self.makeListenerName,
            returnedHint: { second in
                if let elsewhere = Self.elsewhereHint(host, port, listener: second) { return elsewhere }
                let shares = (try? Inspect.intOption(second, SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT")) == 1
                return shares ? .reusePortShares : nil
            })
    }

    private func addressNotOnThisMachine(_ random: SeededGenerator) throws {
        // 192.0.2.0/24 is reserved for documentation: no machine has it (checked first).
        let host = "192.0.2.\(random.int(in: 1...254))"
        let trial = try HarnessSocket.make(.inet)
        let bindable = (try? SocketAddress.ipv4(host: host, port: 0).withSockAddr { pointer, length in bind(trial.fd, pointer, length) == 0 }) ?? true
        trial.close()
        guard !bindable else { return }
        // A port that is free (so a listener on 0.0.0.0 could take it): which port a wrong
        // answer ends up on tells a bind that ignored the host from a bind that failed unnoticed.
        let port = try FreePort.withFreeByteSwap()
        let probe = Probe("makeListener(host: \"\(host)\", port: P), an address not on this machine, throws EADDRNOTAVAIL and leaves nothing open")
        let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
        let outcome = try probe.run(Self.makeListenerName, returns: { [$0] }, stale: stale) {
            try makeListener(host: host, port: port)
        }
        try probe.expectFailure(
            outcome, calls: ["bind"], code: EADDRNOTAVAIL, stale: stale, function: Self.makeListenerName,
            returnedHint: { Self.elsewhereHint(host, port, listener: $0) ?? .uncheckedResult("bind") })
    }

    private func descriptorTableFull(host: String) throws {
        let probe = Probe("makeListener(host: \"\(host)\", port: 0) with the descriptor table full throws EMFILE from socket()")
        let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
        let table = FullDescriptorTable()
        let outcome = try probe.run(
            Self.makeListenerName, returns: { [$0] }, stale: stale, unblock: { table.restore() },
            blockedHint: .waitsForADescriptor, spinningHint: .waitsForADescriptor
        ) {
            try table.around { try makeListener(host: host, port: 0) }
        }
        try probe.expectFailure(outcome, calls: ["socket"], code: EMFILE, stale: stale, function: Self.makeListenerName)
    }

    // Row 6: a restarted server gets its port back while old connections are in TIME_WAIT.
    func test5_makeListenerCanRestartOnTheSamePort() throws {
        try grade {
            let probe = Probe("makeListener can listen again on a port whose last connection is in TIME_WAIT")
            let firstStale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
            let first = try probe.succeeded(
                probe.run(Self.makeListenerName, returns: { [$0] }, stale: firstStale) { try makeListener(host: "127.0.0.1", port: 0) },
                Self.makeListenerName, stale: firstStale, errorHint: Self.listenerErrorHint)
            var firstIsOpen = true
            defer { if firstIsOpen { closeIfOpen(first) } }
            let address = try expectTCPListener(first, probe: probe)

            firstIsOpen = false  // leaveInTimeWait closes it, whatever happens
            try leaveInTimeWait(first, at: address, probe: probe)

            let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
            let outcome = try probe.run("\(Self.makeListenerName) on the same port again", returns: { [$0] }, stale: stale) {
                try makeListener(host: "127.0.0.1", port: address.port ?? 0)
            }
            if let error = outcome.socketError, error.code == EADDRINUSE, outcome.leaked.isEmpty {
                throw probe.fail(expected: "a new listener on \(address)", actual: "it threw \(error)", hint: .reuseAddress)
            }
            let second = try probe.succeeded(outcome, Self.makeListenerName, stale: stale, errorHint: Self.listenerErrorHint)
            defer { closeIfOpen(second) }
            let local = try expectTCPListener(second, probe: probe)
            guard local == address else {
                throw probe.fail(
                    expected: "a new listener on \(address)", actual: "a listener on \(local)",
                    hint: Self.elsewhereHint("127.0.0.1", address.port ?? 0, listener: second) ?? .wrongPort)
            }
        }
    }

    // Row 7: each call accepts the next waiting client and says who it is: clients bound to
    // 127.0.0.3 and to an address from the seed, from ports drawn from the seed, and one over
    // IPv6 (::1). The address must be the client's, as the kernel sees the connection.
    func test6_acceptConnectionReturnsEachClient() throws {
        try grade {
            let probe = Probe("acceptConnection(on:) returns each waiting client, one per call, with its address")
            let listener = try HarnessSocket.listener(ownsAccepted: false)
            defer { listener.close() }
            let address = try listener.localAddress
            let clients = try [Loopback.fixed(3), Loopback.seeded(probe.random)].map { host in
                try BoundClient.connect(from: host, random: probe.random, to: address, transcript: probe.transcript)
            }
            defer { clients.forEach { $0.close() } }
            try acceptEach(from: listener, clients: clients, probe: probe)

            let probe6 = Probe("acceptConnection(on:) returns an IPv6 client's address ([::1]:port)")
            let listener6 = try HarnessSocket.listener(host: "::1", ownsAccepted: false)
            defer { listener6.close() }
            let client6 = try BoundClient.connect(from: "::1", random: probe6.random, to: listener6.localAddress, transcript: probe6.transcript)
            defer { client6.close() }
            try acceptEach(from: listener6, clients: [client6], probe: probe6)
        }
    }

    // 0 is a descriptor: with standard input closed, the accepted connection gets it.
    func test6b_acceptConnectionReturnsDescriptorZero() throws {
        try grade {
            let probe = Probe("acceptConnection(on:) with descriptor 0 free (standard input closed, as in a daemon)")
            let listener = try HarnessSocket.listener(ownsAccepted: false)
            defer { listener.close() }
            let client = try BoundClient.connect(from: Loopback.fixed(1), random: probe.random, to: listener.localAddress, transcript: probe.transcript)
            defer { client.close() }
            let zero = DescriptorZeroFree()
            defer { zero.restore() }
            let outcome = try probe.run(
                "acceptConnection(on:)", returns: { [$0.connection] }, stale: .cleared,
                unblock: { try? listener.shutdown(ShutdownHow.both) }, blockedHint: .acceptOnce
            ) {
                try acceptConnection(on: listener.fd)
            }
            try expectDescriptorZeroAccepted(outcome, probe: probe, function: "acceptConnection(on:)")
            let (connection, peer) = try probe.succeeded(outcome, "acceptConnection(on:)", stale: .cleared, errorHint: Self.addressErrorHint("acceptConnection(on:)"))
            defer { closeIfOpen(connection) }
            let expected = try client.localAddress
            guard (try? Inspect.peerAddress(connection)) == expected, peer == expected else {
                throw probe.fail(
                    expected: "the client's connection, from \(expected)",
                    actual: "\(Inspect.describe(connection)), reported as \(peer)", hint: Inspect.isOpen(connection) ? .returnTheConnection : .closedBeforeReturning)
            }
        }
    }

    private func acceptEach(from listener: HarnessSocket, clients: [HarnessSocket], probe: Probe) throws {
        let expected = try clients.map { try $0.localAddress }
        let listenerIdentity = Inspect.identity(listener.fd)
        var seen: [Int32] = []
        defer { seen.forEach(closeIfOpen) }
        for call in 1...clients.count {
            let function = "acceptConnection(on:)" + (clients.count > 1 ? " (call \(call) of \(clients.count))" : "")
            let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
            let outcome = try probe.run(
                function, returns: { [$0.connection] }, stale: stale,
                unblock: { try? listener.shutdown(ShutdownHow.both) }, blockedHint: .acceptOnce
            ) {
                try acceptConnection(on: listener.fd)
            }
            let (connection, peer) = try probe.succeeded(
                outcome, function, stale: stale, errorHint: Self.addressErrorHint("acceptConnection(on:)"),
                leakHint: { $0.connection == listener.fd ? .returnTheConnection : nil })
            if connection != listener.fd { seen.append(connection) }
            guard Inspect.identity(listener.fd) == listenerIdentity, (try? Inspect.isListening(listener.fd)) == true else {
                throw probe.fail(
                    expected: "the listener (fd \(listener.fd)) still open and listening for the next client",
                    actual: "it was closed", hint: .closedCallersDescriptor)
            }
            guard connection != listener.fd, !seen.dropLast().contains(connection),
                  Inspect.isSocket(connection), let actual = try? Inspect.peerAddress(connection), expected.contains(actual) else {
                throw probe.fail(
                    expected: "a new connection to one of the clients (\(expected.map(String.init(describing:)).joined(separator: ", ")))",
                    actual: "it returned \(Inspect.describe(connection))",
                    hint: Inspect.isOpen(connection) || connection < 0 ? .returnTheConnection : .closedBeforeReturning)
            }
            guard peer == actual else {
                throw probe.fail(
                    expected: "the address of the client on that connection (\(actual), read back with getpeername)",
                    actual: "\(peer)" + (peer.host == actual.host && peer.port == actual.port?.byteSwapped ? " (the two bytes of the port \(actual.port ?? 0) swapped)" : ""),
                    hint: Self.addressMismatchHint(got: peer, expected: actual, otherwise: .peerAddress))
            }
        }
    }

    // getsockname reads back what the kernel chose, for every kind of socket an address can
    // be asked of, and leaves the socket open (it is the caller's).
    func test7_boundAddressAsksTheKernel() throws {
        try grade {
            let random = GradingSeed.generator(for: "boundAddress(of:) sockets")
            let seededHost = Loopback.seeded(random)
            let listener = try HarnessSocket.listener(host: seededHost)
            let sockets: [(String, HarnessSocket)] = [
                ("a listener on \(seededHost), port chosen by the kernel", listener),
                ("a listener on ::1", try HarnessSocket.listener(host: "::1")),
                ("a UDP socket bound to \(Loopback.fixed(2))", try HarnessSocket.udp(host: Loopback.fixed(2))),
                ("the client end of a connection to \(try listener.localAddress)", try HarnessSocket.connect(to: listener.localAddress)),
                ("a TCP socket that was never bound", try HarnessSocket.make(.inet)),
                ("an IPv6 TCP socket that was never bound", try HarnessSocket.make(.inet6)),
            ]
            defer { sockets.forEach { $0.1.close() } }
            for (what, socket) in sockets {
                let probe = Probe("boundAddress(of:) reads back \(what)")
                let expected = try socket.localAddress
                let identity = Inspect.identity(socket.fd)
                let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let actual = try probe.succeeded(
                    probe.run("boundAddress(of:)", stale: stale) { try boundAddress(of: socket.fd) },
                    "boundAddress(of:)", stale: stale, errorHint: Self.addressErrorHint("boundAddress(of:)"))
                guard Inspect.identity(socket.fd) == identity else {
                    throw probe.fail(expected: "fd \(socket.fd) still open after boundAddress(of:) (it belongs to the caller)", actual: "it was closed", hint: .closedCallersDescriptor)
                }
                guard actual == expected else {
                    let swapped = actual.host == expected.host && actual.port == expected.port?.byteSwapped && actual.port != expected.port
                    throw probe.fail(
                        expected: "\(expected)", actual: "\(actual)" + (swapped ? " (the two bytes of the port \(expected.port ?? 0) swapped)" : ""),
                        hint: Self.addressMismatchHint(got: actual, expected: expected, otherwise: .askGetsockname))
                }
            }
            var minusOneHandled = false
            try BadDescriptor.each(random) { input, pipeStillOpen in
                let probe = Probe("boundAddress(of:) reports the failed getsockname() (\(input.text))")
                let fd = input.fd
                let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let outcome = try probe.run("boundAddress(of: \(fd))", stale: stale) { try boundAddress(of: fd) }
                try probe.expectFailure(
                    outcome, calls: ["getsockname"], code: input.code, stale: stale, function: "boundAddress(of:)",
                    minusOneWasRight: minusOneHandled)
                if fd == -1 { minusOneHandled = true }
                if case .pipe = input, !pipeStillOpen() {
                    throw probe.fail(expected: "boundAddress(of:) to leave fd \(fd) (the caller's pipe) open", actual: "it closed fd \(fd)", hint: .closedCallersDescriptor)
                }
            }
        }
    }

    // boundAddress asks the kernel even about a listener makeListener made: the number is
    // closed and reused for a listener elsewhere, and the answer must follow.
    func test7b_boundAddressAfterTheNumberIsReused() throws {
        try grade {
            let probe = Probe("boundAddress(of:) asks the kernel, even about a number makeListener returned")
            let host = Loopback.seeded(probe.random)
            // A port named (not 0): a free one, found by binding and closing.
            let scout = try HarnessSocket.listener(host: host)
            let port = try scout.localAddress.port ?? 0
            scout.close()
            let fd = try probe.call(Self.makeListenerName, returns: { [$0] }) { try makeListener(host: host, port: port) }
            guard Inspect.isSocket(fd) else {
                throw probe.fail(expected: "the descriptor of a listening socket", actual: Probe.returned(fd), hint: .returnTheDescriptor)
            }
            let reused = try HarnessSocket.reusing(fd, for: try HarnessSocket.listener(host: "::1"))
            defer { reused.close() }
            let expected = try reused.localAddress
            let actual = try probe.call("boundAddress(of: \(fd))", errorHint: Self.addressErrorHint("boundAddress(of:)")) { try boundAddress(of: fd) }
            guard actual == expected else {
                let remembered = actual.host == host
                throw probe.fail(
                    expected: "\(expected): fd \(fd) was closed and now names a listener on ::1",
                    actual: "\(actual)" + (remembered ? " (where makeListener had bound that number)" : ""),
                    hint: remembered ? .rememberedAddress : Self.addressMismatchHint(got: actual, expected: expected, otherwise: .askGetsockname))
            }
        }
    }

    // accept's failures are errors, each with accept's errno, and nothing is left open: a
    // descriptor that is not open (-1, and a positive number), a pipe (ENOTSOCK), sockets that
    // are not listening (EINVAL, EOPNOTSUPP), and a full descriptor table (EMFILE), after
    // which the client that was waiting is still there for the next call.
    func test8_acceptConnectionReportsFailure() throws {
        try grade {
            let random = GradingSeed.generator(for: "acceptConnection(on:) failures")
            var minusOneHandled = false
            try BadDescriptor.each(random) { input, pipeStillOpen in
                let probe = Probe("acceptConnection(on:) reports a failed accept() (\(input.text))")
                let fd = input.fd
                let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                // poll() ignores fd -1: an answer that polls before accept waits there, correctly.
                guard let outcome = try probe.runMayBlock(
                    "acceptConnection(on: \(fd))", returns: { [$0.connection] }, seconds: input.fd == -1 ? 0.5 : Deadline.standard,
                    stale: stale, toleratesBlocking: input.fd == -1, blockedHint: .acceptWaitsInstead, spinningHint: .acceptRetriesErrors,
                    { try acceptConnection(on: fd) }) else { return }
                try probe.expectFailure(
                    outcome, calls: ["accept"], code: input.code, stale: stale, function: "acceptConnection(on:)",
                    minusOneWasRight: minusOneHandled)
                if fd == -1 { minusOneHandled = true }
                if case .pipe = input, !pipeStillOpen() {
                    throw probe.fail(expected: "acceptConnection(on:) to leave fd \(fd) (the caller's pipe) open", actual: "it closed fd \(fd)", hint: .closedCallersDescriptor)
                }
            }

            // Each one is ready to read (a TCP socket that never connected reports a hang-up; the
            // UDP socket has a datagram waiting), so an answer that polls first goes on to accept.
            let udp = try HarnessSocket.udp()
            let sender = try HarnessSocket.udp()
            try sender.sendDatagram(Array("not a connection".utf8), to: udp.localAddress)
            sender.close()
            let notListening: [(String, HarnessSocket, Int32)] = [
                ("a TCP socket that is not listening", try HarnessSocket.make(.inet), EINVAL),
                ("a UDP socket with a datagram waiting", udp, EOPNOTSUPP),
            ]
            defer { notListening.forEach { $0.1.close() } }
            for (what, socket, code) in notListening {
                let probe = Probe("acceptConnection(on:) reports a failed accept() (\(what))")
                let identity = Inspect.identity(socket.fd)
                let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let outcome = try probe.run(
                    "acceptConnection(on:)", returns: { [$0.connection] }, stale: stale,
                    unblock: { try? socket.shutdown(ShutdownHow.both) }, blockedHint: .acceptWaitsInstead, spinningHint: .acceptRetriesErrors
                ) {
                    try acceptConnection(on: socket.fd)
                }
                try probe.expectFailure(outcome, calls: ["accept"], code: code, stale: stale, function: "acceptConnection(on:)")
                guard Inspect.identity(socket.fd) == identity else {
                    throw probe.fail(expected: "fd \(socket.fd) still open (it belongs to the caller)", actual: "it was closed", hint: .closedCallersDescriptor)
                }
            }

            try acceptWithTheTableFull(random)
        }
    }

    private func acceptWithTheTableFull(_ random: SeededGenerator) throws {
        let probe = Probe("acceptConnection(on:) with the descriptor table full throws EMFILE, and the waiting client is still there")
        let listener = try HarnessSocket.listener(ownsAccepted: false)
        defer { listener.close() }
        let client = try BoundClient.connect(from: Loopback.seeded(random), random: random, to: listener.localAddress, transcript: probe.transcript)
        defer { client.close() }
        let table = FullDescriptorTable()
        let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
        let outcome = try probe.run(
            "acceptConnection(on:) (with the descriptor table full)", returns: { [$0.connection] }, stale: stale,
            unblock: { table.restore(); try? listener.shutdown(ShutdownHow.both) },
            blockedHint: .waitsForADescriptor, spinningHint: .waitsForADescriptor
        ) {
            try table.around { try acceptConnection(on: listener.fd) }
        }
        try probe.expectFailure(outcome, calls: ["accept"], code: EMFILE, stale: stale, function: "acceptConnection(on:)")

        let afterStale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
        let after = try probe.run(
            "acceptConnection(on:) (again, with descriptors free)", returns: { [$0.connection] }, stale: afterStale,
            unblock: { try? listener.shutdown(ShutdownHow.both) }, blockedHint: .clientLost
        ) {
            try acceptConnection(on: listener.fd)
        }
        let (connection, peer) = try probe.succeeded(after, "acceptConnection(on:)", stale: afterStale, errorHint: Self.addressErrorHint("acceptConnection(on:)"))
        defer { closeIfOpen(connection) }
        let expected = try client.localAddress
        guard (try? Inspect.peerAddress(connection)) == expected, peer == expected else {
            throw probe.fail(
                expected: "the waiting client's connection, from \(expected)",
                actual: "\(Inspect.describe(connection)), reported as \(peer)", hint: Inspect.isOpen(connection) ? .peerAddress : .closedBeforeReturning)
        }
    }

    // listen(fd, backlog) gets the backlog it was given, as the kernel keeps it (TCP_INFO on
    // the listener): the default (16) and three values from the seed.
    func test9_makeListenerUsesTheBacklogGiven() throws {
        #if os(Linux)
        try grade {
            let random = GradingSeed.generator(for: "makeListener(host:port:backlog:) backlogs")
            let backlogs: [Int32?] = [nil, Int32(random.int(in: 1...15)), Int32(random.int(in: 17...200)), Int32(random.int(in: 201...1000))]
            for backlog in backlogs {
                let probe = Probe(backlog.map { "makeListener(host: \"127.0.0.1\", port: 0, backlog: \($0)) listens with a queue of \($0)" }
                    ?? "makeListener(host: \"127.0.0.1\", port: 0) listens with the default queue of 16")
                let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let outcome = try probe.run(Self.makeListenerName, returns: { [$0] }, stale: stale) {
                    if let backlog { return try makeListener(host: "127.0.0.1", port: 0, backlog: backlog) }
                    return try makeListener(host: "127.0.0.1", port: 0)
                }
                let fd = try probe.succeeded(outcome, Self.makeListenerName, stale: stale, errorHint: Self.listenerErrorHint)
                defer { closeIfOpen(fd) }
                _ = try expectTCPListener(fd, probe: probe)
                let wanted = min(backlog ?? 16, ListenBacklog.cap)
                let kept = try ListenBacklog.of(fd)
                guard kept == UInt32(wanted) else {
                    throw probe.fail(
                        expected: "a listen queue of \(wanted)",
                        actual: "a listen queue of \(kept) (read back from the kernel: TCP_INFO's tcpi_sacked on the listener)",
                        hint: .backlogIgnored)
                }
            }
        }
        #endif
    }

    /// Why an address read back differs from the kernel's, from how it differs.
    static func addressMismatchHint(got: SocketAddress, expected: SocketAddress, otherwise: Hint) -> Hint {
        if got.host == expected.host, got.port == expected.port?.byteSwapped { return .byteOrder }
        if got.family != expected.family { return .addressFamilyFirst }
        if got.port == expected.port, got.host == "::" || got.host == "0.0.0.0", got.host != expected.host { return .addressBufferSize }
        return otherwise
    }

    /// What an accept or getsockname that threw for a good descriptor got wrong.
    static func addressErrorHint(_ function: String) -> (any Error) -> Hint? {
        { error in
            guard let error = error as? SocketError else { return nil }
            if error.call.hasPrefix("SocketAddress") || error.call.hasPrefix("inet_ntop") { return .addressBufferSize }
            return function.hasPrefix("boundAddress") ? .askGetsockname : .unexpectedFailure(function)
        }
    }

    /// The learner's descriptor is a listening TCP/IPv4 socket; returns its address.
    private func expectTCPListener(_ fd: Int32, probe: Probe) throws -> SocketAddress {
        guard Inspect.isSocket(fd) else {
            throw probe.fail(expected: "the descriptor of a listening socket", actual: "it returned \(Inspect.describe(fd))", hint: Inspect.isOpen(fd) ? .returnTheDescriptor : .closedBeforeReturning)
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
    static let rememberedAddress = Hint("remembered-address", "Ask the kernel with getsockname every time; don't answer from what makeListener was given. A descriptor number is reused as soon as it is closed, so an address remembered by number goes stale.")
    static let anyAddress = Hint("any-address", "Bind the address you were given. 127.0.0.1 (loopback) is reachable only from this machine, which is the safe default; 0.0.0.0 means every interface, open to the network. If bind is never called, listen() binds 0.0.0.0 and a random port by itself.")
    static let byteOrder = Hint("byte-order", "sin_port is in network byte order (most significant byte first), and x86 and ARM store numbers the other way round. Write address.sin_port = port.bigEndian (htons in C), and read one back with UInt16(bigEndian: sin_port).")
    static let wrongPort = Hint("wrong-port", "Put the port you were given into sin_port (as port.bigEndian); 0 means \"any port\".")
    static let unparsedHost = Hint("unchecked-inet-pton", "inet_pton returns 1 when it understood the text, 0 when it is not an address (and -1 for a bad family). If you ignore the 0, sin_addr stays all zeros: 0.0.0.0, every interface. Throw SocketError(call: \"inet_pton\", code: EINVAL) instead.")
    static let reuseAddress = Hint("reuse-address", "After a server closes a connection, the port stays in TIME_WAIT for up to a minute, and bind fails with EADDRINUSE. Set SO_REUSEADDR to 1 with setsockopt after socket() and before bind() (the order matters: set after bind, it is too late).")
    static let notListening = Hint("not-listening", "After bind, call listen(fd, backlog): only then does the kernel accept connections for you and does SO_ACCEPTCONN read 1.")
    static let acceptOnce = Hint("accept-once", "Each call to acceptConnection should call accept() once and return what it gave. accept() blocks until a client is waiting, so an extra call (or a loop) waits for a client that never comes.")
    static let returnTheConnection = Hint("return-connection", "accept() returns a new descriptor for this one client; the listener stays as it was, listening for the next. Return the new one.")
    static let peerAddress = Hint("peer-address", "Return the address accept() wrote into your sockaddr_storage: SocketAddress(storage: storage, length: length), with the length accept() gave back.")
    static let askGetsockname = Hint("ask-getsockname", "Ask the kernel with getsockname(fd, pointer, &length) and convert the storage with SocketAddress(storage:length:); the port it reports is the one the kernel chose for port 0.")
    static let hostIgnored = Hint("host-ignored", "Bind the host you were given, whatever it is: inet_pton(AF_INET, host, &address.sin_addr). All of 127.0.0.0/8 is this machine (127.0.0.2, 127.45.6.7...), so a fixed INADDR_LOOPBACK, or a special case for \"127.0.0.1\", binds the wrong address.")
    static let addressBytesSwapped = Hint("address-byte-order", "bind said EADDRNOTAVAIL: the address is not one of this machine's. inet_pton already writes sin_addr in network order; swapping it again (.bigEndian, htonl) turns 127.0.0.2 into 2.0.0.127.")
    static let inetPtonRefusedAGoodHost = Hint("inet-pton-arguments", "inet_pton refused a valid IPv4 address: call it as inet_pton(AF_INET, host, &address.sin_addr), with AF_INET (not AF_INET6) and the host string exactly as given, and treat only a result other than 1 as a failure.")
    static let inetPtonSetsNoErrno = Hint("inet-pton-errno", "inet_pton returns 0 for text that is not an address without setting errno, so SocketError(call: \"inet_pton\") would report whatever errno held before. Give the code yourself: SocketError(call: \"inet_pton\", code: EINVAL).")
    static let emptyHostIsNotAny = Hint("empty-host", "The empty string is not an address. Python's bind((\"\", port)) means every interface, but this function takes numeric addresses and throws for anything else: silently turning \"\" into 0.0.0.0 opens the server to the network.")
    static let numericHostOnly = Hint("numeric-host", "makeListener takes a numeric IPv4 address only: inet_pton, no name lookup (\"localhost\" is a name). A host that inet_pton(AF_INET, ...) does not accept is an error: SocketError(call: \"inet_pton\", code: EINVAL).")
    static let ipv4OnlyByItsDoc = Hint("ipv4-only", "makeListener is IPv4 only, as its doc comment says: AF_INET and inet_pton(AF_INET, ...). \"::1\" is not an IPv4 address, so it throws SocketError(call: \"inet_pton\", code: EINVAL).")
    static let reusePortShares = Hint("reuse-port", "SO_REUSEPORT lets several sockets listen on one port at once, so a second server starts beside the first instead of failing with EADDRINUSE. Set SO_REUSEADDR (restart during TIME_WAIT) and not SO_REUSEPORT.")
    static let acceptRetriesErrors = Hint("accept-retry", "accept failed with an error that will not go away by itself (EBADF, ENOTSOCK, EINVAL...), and your code called it again and again. Retry only on EINTR (or ECONNABORTED); for anything else throw SocketError(call: \"accept\") at once.")
    static let acceptWaitsInstead = Hint("accept-waits", "acceptConnection kept waiting on a descriptor that is not a listener (or not open), where accept() fails at once. Call accept and throw its error; if you poll before accept, go on to accept whatever poll reports (POLLNVAL, POLLHUP, POLLERR included), and look at the result.")
    static let addressBufferSize = Hint("address-length", "Before accept or getsockname, set length to the size of the buffer you lend (MemoryLayout<sockaddr_storage>.size): the kernel writes at most that many bytes and puts the real size back in length. With 0, or a sockaddr_in's 16 bytes for an IPv6 address (28), the address comes back empty or cut short.")
    static let optionIsAnInt32 = Hint("option-int32", "setsockopt failed: pass the option's value as an Int32 variable (var on: Int32 = 1) with &on and its size, socklen_t(MemoryLayout<Int32>.size). A Bool, or a length of 1, is refused with EINVAL.")
    static let bindBeforeListen = Hint("bind-then-listen", "bind failed with EINVAL: the socket already had an address. listen() on a socket that was never bound binds one by itself (0.0.0.0 and a random port), so call bind first, then listen.")
    static let portFallback = Hint("port-fallback", "When bind fails, throw its error: a listener on another port than the one asked for is one its clients will never find, and the caller never learns why. Only port 0 means \"any port\".")
    static let clientLost = Hint("client-lost", "The client that was waiting before the failed call was gone afterwards: a failed accept (EMFILE) leaves the connection in the queue, and the next accept must return it.")
    static let addressFamilyFirst = Hint("address-family", "Read the family first: sockaddr_storage holds an IPv4 (sockaddr_in, 16 bytes) or an IPv6 (sockaddr_in6, 28 bytes) address. Lend accept/getsockname a sockaddr_storage with its full size, and convert with SocketAddress(storage: storage, length: length), which looks at ss_family.")
    static let backlogIgnored = Hint("backlog", "Pass the backlog you were given: listen(fd, backlog). The kernel keeps it as the length of the queue of finished handshakes; a fixed listen(fd, 5), SOMAXCONN or 16 ignores what the caller asked for.")
}
