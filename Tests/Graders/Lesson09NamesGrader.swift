import Foundation
import GradingHarness
import Lesson09
import SocketKit
import XCTest

/// Grades Exercises/Lesson09/Names.swift. Checklist rows 3, 35 to 37. Every lookup is
/// compared with what the harness's own getaddrinfo answers to the same question (whatever
/// /etc/hosts says), never with a constant. Hermetic: `localhost`, numeric forms, and names
/// that fail before any query (AI_NUMERICHOST, a space in the name, a bad service, family or
/// type). Lists of addresses with one that refuses, one that never answers (a full listen
/// queue) and one that answers are built here, since no name on this machine has two.
final class Lesson09NamesGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(9)
    }

    // resolve gives getaddrinfo's list, in order, for numeric hosts of both families,
    // localhost, and no host with and without AI_PASSIVE; ports from the seed.
    func test1_resolveGivesTheResolversList() throws {
        try grade {
            let probe = Probe("resolve(host:port:family:socketType:flags:) returns getaddrinfo's list, in order, for numeric hosts, localhost and no host (AI_PASSIVE or not)")
            let random = probe.random
            let stream = SocketType.stream.rawValue, datagram = SocketType.datagram.rawValue
            let port = { String(random.int(in: 1024...65535)) }
            let cases: [(String?, String, Int32, Int32, Int32)] = [
                (NamesLesson.loopback4(random), port(), AF_UNSPEC, stream, 0),
                ("::1", port(), AF_UNSPEC, datagram, AI_NUMERICHOST),
                ("localhost", port(), AF_UNSPEC, stream, 0),
                ("localhost", port(), AF_INET, datagram, AI_NUMERICSERV),
                (nil, port(), AF_UNSPEC, stream, AI_PASSIVE),
                (nil, port(), AF_INET6, stream, AI_PASSIVE),
                (nil, port(), AF_INET, datagram, 0),
                (NamesLesson.loopback4(random), port(), AF_INET, 0, AI_NUMERICHOST),
            ]
            for (host, port, family, socketType, flags) in cases {
                let asked = "resolve(host: \(host.map { "\"\($0)\"" } ?? "nil"), port: \"\(port)\", family: \(AddressFamily(rawValue: family)), socketType: \(socketType == 0 ? "0" : "\(SocketType(rawValue: socketType))"), flags: \(Self.flagNames(flags)))"
                guard case .success(let expected) = NamesLesson.lookup(host, port, family: family, socketType: socketType, flags: flags) else { continue }
                let stale = StaleErrno(random)
                let outcome = try probe.attempt(asked) {
                    stale.plant()
                    return try resolve(host: host, port: port, family: family, socketType: socketType, flags: flags)
                }
                let got: [SocketAddress]
                switch outcome {
                case .success(let list): got = list
                case .failure(let error):
                    let hint: Hint = error is SocketError ? .gaiNotErrno : .gaiCode
                    throw probe.fail(expected: "[\(expected.map(\.description).joined(separator: ", "))], as getaddrinfo answers", actual: "it threw \(type(of: error)): \(error)", hint: hint)
                }
                guard got == expected else {
                    let hint: Hint
                    if got == NamesLesson.byteSwapped(expected) {
                        hint = .portByteOrder
                    } else if Set(got) == Set(expected) || (got.count < expected.count && Array(expected.prefix(got.count)) == got) {
                        hint = .resolveOrder  // reordered, or the walk stopped early
                    } else if flags & AI_PASSIVE != 0 && got.allSatisfy({ $0.host == "127.0.0.1" || $0.host == "::1" }) {
                        hint = .passiveFlag
                    } else {
                        hint = .resolveHints
                    }
                    throw probe.fail(
                        expected: "[\(expected.map(\.description).joined(separator: ", "))], as getaddrinfo answers \(asked)",
                        actual: NamesLesson.describe(outcome), hint: hint)
                }
            }
        }
    }

    // Row 35: a lookup that fails throws the resolver's own code and text, never an errno.
    // Each failure is local and immediate: AI_NUMERICHOST with a name (two, one from the
    // seed), a service that does not exist, a socket type and a family that do not.
    func test2_resolveFailuresAreTheResolversOwn() throws {
        try grade {
            let probe = Probe("resolve(host:port:family:socketType:flags:) throws LookupError with getaddrinfo's code and gai_strerror's text when the lookup fails")
            let random = probe.random
            let stream = SocketType.stream.rawValue
            let name = "host-\(random.int(in: 100...99999))"
            let cases: [(String?, String, Int32, Int32, Int32)] = [
                ("localhost", "80", AF_UNSPEC, stream, AI_NUMERICHOST),
                (name, String(random.int(in: 1...65535)), AF_UNSPEC, stream, AI_NUMERICHOST),
                ("127.0.0.1", "no-such-service-\(random.int(in: 100...99999))", AF_UNSPEC, stream, 0),
                ("127.0.0.1", "80", AF_UNSPEC, Int32(random.int(in: 40...90)), 0),
                ("127.0.0.1", "80", Int32(random.int(in: 60...90)), stream, 0),
            ]
            for (host, port, family, socketType, flags) in cases {
                let asked = "resolve(host: \(host.map { "\"\($0)\"" } ?? "nil"), port: \"\(port)\", family: \(AddressFamily(rawValue: family)), socketType: \(SocketType(rawValue: socketType)), flags: \(Self.flagNames(flags)))"
                guard case .failure(let expected) = NamesLesson.lookup(host, port, family: family, socketType: socketType, flags: flags) else { continue }
                let stale = StaleErrno(random)
                let outcome = try probe.attempt(asked) {
                    stale.plant()
                    return try resolve(host: host, port: port, family: family, socketType: socketType, flags: flags)
                }
                try Self.expectLookupError(outcome, expected.code, probe: probe, asked: asked)
            }
        }
    }

    // Row 35: the list getaddrinfo allocates is freed. A list never freed is at least one
    // addrinfo and its sockaddr (about 80 bytes) per call: 400 calls on the learner's thread
    // leave 30 kB or more in use, against a few hundred bytes of noise. (glibc's mallinfo2;
    // elsewhere this check has nothing to measure and passes.)
    func test3_resolveFreesItsList() throws {
        try grade {
            let probe = Probe("resolve(host:port:family:socketType:flags:) frees getaddrinfo's list (malloc's bytes in use before and after 400 lookups)")
            let random = probe.random
            let hosts = (0..<8).map { _ in NamesLesson.loopback4(random) } + ["::1"]
            let port = String(random.int(in: 1024...65535))
            let calls = 400
            let grown = try probe.call("resolve(host:port:) 400 times, numeric hosts", errorHint: { $0 is SocketError ? .gaiNotErrno : .gaiCode }) { () -> Int? in
                // Warm up first: the first lookups load the resolver's configuration once.
                for host in hosts { _ = try resolve(host: host, port: port) }
                guard let before = NamesLesson.bytesInUse() else { return nil }
                for index in 0..<calls { _ = try resolve(host: hosts[index % hosts.count], port: port) }
                guard let after = NamesLesson.bytesInUse() else { return nil }
                return after - before
            }
            if let grown, grown > 16_000 {
                throw probe.fail(
                    expected: "malloc's bytes in use about the same after \(calls) lookups (within 16,000 bytes)",
                    actual: "\(grown) more bytes in use: about \(grown / calls) bytes kept per lookup",
                    hint: .freeaddrinfo)
            }
        }
    }

    // Row 36: the first address refuses, the next answers; either family first, and three
    // addresses with two refusals. The socket returned is the one the harness accepted.
    func test4_triesEachAddressInTurn() throws {
        try grade {
            let probe = Probe("openConnection(toAnyOf:attemptTimeout:) tries each address in order until one answers")
            let random = probe.random
            let v4 = NamesLesson.loopback4(random)
            let layouts: [[(String, Bool)]] = [
                [("::1", false), (v4, true)],
                [(v4, false), ("::1", true)],
                [(NamesLesson.loopback4(random), false), ("::1", false), (NamesLesson.loopback4(random), true)],
            ]
            for layout in layouts {
                var keep: [HarnessSocket] = []
                var addresses: [SocketAddress] = []
                var answering: (HarnessSocket, SocketAddress)!
                for (host, answers) in layout {
                    if answers {
                        let listener = try HarnessSocket.listener(host: host)
                        let address = try listener.localAddress
                        keep.append(listener)
                        addresses.append(address)
                        answering = (listener, address)
                    } else {
                        let (socket, address) = try NamesLesson.refusing(host)
                        keep.append(socket)
                        addresses.append(address)
                    }
                }
                let timeout = Double(random.int(in: 300...600)) / 1000
                let targets = addresses
                let asked = "openConnection(toAnyOf: [\(addresses.map(\.description).joined(separator: ", "))], attemptTimeout: \(timeout)) (all refuse but the last)"
                let outcome = try probe.attempt(asked, returns: { [$0] }, seconds: 1.5, blockedHint: .attemptTimeout) {
                    try openConnection(toAnyOf: targets, attemptTimeout: timeout)
                }
                let fd: Int32
                switch outcome {
                case .success(let value): fd = value
                case .failure(let error):
                    let refused = (error as? SocketError)?.code == ECONNREFUSED
                    throw probe.fail(expected: "a socket connected to \(answering.1), the last address", actual: "it threw \(error)", hint: refused ? .tryEachAddress : .lastError)
                }
                defer { closeIfOpen(fd) }
                let peer = try? Inspect.peerAddress(fd)
                guard peer == answering.1, let accepted = try answering.0.accept(seconds: 0.5) else {
                    throw probe.fail(expected: "a socket connected to \(answering.1)", actual: "it returned \(Inspect.describe(fd))", hint: .tryEachAddress)
                }
                accepted.close()
                guard !NamesLesson.isNonBlocking(fd) else {
                    throw probe.fail(expected: "a connected socket in blocking mode", actual: "it returned \(Inspect.describe(fd)), still O_NONBLOCK", hint: .blockingAgain)
                }
                withExtendedLifetime(keep) {}
            }
        }
    }

    // Row 36: an attempt that never answers (a full listen queue drops the SYN) must end when
    // its timeout passes, and the next address must get its turn: the whole call takes about
    // one timeout, not minutes, and not less than the timeout.
    func test5_aHangingAttemptGivesWayInItsTime() throws {
        try grade {
            let probe = Probe("openConnection(toAnyOf:attemptTimeout:) gives up on an address that never answers after attemptTimeout, then tries the next")
            let random = probe.random
            let full = try NamesLesson.full(random.pick(["127.0.0.1", NamesLesson.loopback4(random)]))
            let listener = try HarnessSocket.listener(host: random.pick(["::1", NamesLesson.loopback4(random)]))
            let answering = try listener.localAddress
            let timeout = Double(random.int(in: 100...200)) / 1000
            let addresses = [full.address, answering]
            let asked = "openConnection(toAnyOf: [\(full.address) (never answers: its listen queue is full), \(answering)], attemptTimeout: \(timeout))"
            let measured = try probe.measure(asked, returns: { [$0] }, seconds: timeout + 1.0, blockedHint: .attemptTimeout) {
                try openConnection(toAnyOf: addresses, attemptTimeout: timeout)
            }
            let fd: Int32
            switch measured.result {
            case .success(let value): fd = value
            case .failure(let error):
                let timedOut = (error as? SocketError)?.code == ETIMEDOUT
                throw probe.fail(expected: "a socket connected to \(answering), after about \(timeout) s", actual: "it threw \(error) after \(Self.seconds(measured.seconds))", hint: timedOut ? .tryEachAddress : .attemptTimeout)
            }
            defer { closeIfOpen(fd) }
            guard (try? Inspect.peerAddress(fd)) == answering else {
                throw probe.fail(expected: "a socket connected to \(answering)", actual: "it returned \(Inspect.describe(fd))", hint: .tryEachAddress)
            }
            guard measured.seconds >= timeout - 0.01 else {
                throw probe.fail(expected: "the first attempt given its \(timeout) s", actual: "it moved on after \(Self.seconds(measured.seconds))", hint: .attemptTooShort)
            }
            guard measured.seconds <= timeout + 0.5 else {
                throw probe.fail(expected: "connected within \(timeout) s and a little", actual: "it took \(Self.seconds(measured.seconds))", hint: .attemptTimeout)
            }
            withExtendedLifetime((full.keep, listener)) {}
        }
    }

    // When nothing answers: the last attempt's error, as SocketError naming connect
    // (ECONNREFUSED after refusals in both families, ETIMEDOUT after a silent address,
    // EINVAL for no address at all); nothing left open.
    func test6_whenNoneAnswersTheLastErrorComesBack() throws {
        try grade {
            let probe = Probe("openConnection(toAnyOf:attemptTimeout:) throws the last attempt's error when no address answers, and leaves nothing open")
            let random = probe.random
            let first = try NamesLesson.refusing(random.pick(["::1", NamesLesson.loopback4(random)]))
            let second = try NamesLesson.refusing(NamesLesson.loopback4(random))
            let full = try NamesLesson.full(NamesLesson.loopback4(random))
            let timeout = Double(random.int(in: 100...150)) / 1000
            let cases: [([SocketAddress], Int32, String)] = [
                ([first.address, second.address], ECONNREFUSED, "both refuse"),
                ([second.address, full.address], ETIMEDOUT, "the first refuses, the last never answers"),
                ([], EINVAL, "no address at all"),
            ]
            for (addresses, code, story) in cases {
                let asked = "openConnection(toAnyOf: [\(addresses.map(\.description).joined(separator: ", "))], attemptTimeout: \(timeout)) (\(story))"
                let outcome = try probe.attempt(asked, returns: { [$0] }, seconds: timeout * 2 + 1.0, blockedHint: .attemptTimeout) {
                    try openConnection(toAnyOf: addresses, attemptTimeout: timeout)
                }
                if case .failure(let error as SocketError) = outcome, error.code != code {
                    throw probe.fail(expected: "SocketError with \(errnoName(code)) from connect", actual: "it threw \(error)", hint: .lastError)
                }
                try expectSocketError(outcome, call: "connect", code: code, probe: probe, function: asked) { _ in .lastError }
            }
            withExtendedLifetime((first.keep, second.keep, full.keep)) {}
        }
    }

    // Rows 35 and 36 together: a name is resolved and its addresses tried. localhost with
    // only 127.0.0.1 listening, ::1 with only ::1 listening; a name that cannot resolve
    // gives the resolver's error (not an errno), a port with no server gives ECONNREFUSED.
    func test7_connectsToANameOrANumber() throws {
        try grade {
            let probe = Probe("openConnection(host:port:attemptTimeout:) resolves the host and connects to one of its addresses")
            let random = probe.random
            for host in ["localhost", "::1", NamesLesson.loopback4(random)] {
                guard case .success(let list) = NamesLesson.lookup(host, "1", family: AF_UNSPEC, socketType: SocketType.stream.rawValue, flags: 0),
                      let first = list.first?.host else { continue }
                let listener = try HarnessSocket.listener(host: first)
                let address = try listener.localAddress
                let asked = "openConnection(host: \"\(host)\", port: \(address.port!), attemptTimeout: 0.5) (listening on \(address) only)"
                let fd = try probe.call(asked, returns: { [$0] }, seconds: 1.5, blockedHint: .attemptTimeout, errorHint: { error in
                    error is LookupError ? .resolveHints : (error as? SocketError)?.code == ECONNREFUSED ? .tryEachAddress : .lastError
                }) {
                    try openConnection(host: host, port: address.port!, attemptTimeout: 0.5)
                }
                defer { closeIfOpen(fd) }
                guard (try? Inspect.peerAddress(fd)) == address, let accepted = try listener.accept(seconds: 0.5) else {
                    throw probe.fail(expected: "a socket connected to \(address)", actual: "it returned \(Inspect.describe(fd))", hint: .tryEachAddress)
                }
                accepted.close()
            }
            // A space is not allowed in a host name: the resolver refuses it before any query.
            for name in ["no such host", "bad name \(random.int(in: 100...99999))"] {
                guard case .failure(let expected) = NamesLesson.lookup(name, "80", family: AF_UNSPEC, socketType: SocketType.stream.rawValue, flags: AI_NUMERICSERV) else { continue }
                let asked = "openConnection(host: \"\(name)\", port: 80, attemptTimeout: 0.5)"
                let stale = StaleErrno(random)
                let outcome = try probe.attempt(asked, returns: { [$0] }, seconds: 1.5) {
                    stale.plant()
                    return try openConnection(host: name, port: 80, attemptTimeout: 0.5)
                }
                try Self.expectLookupError(outcome, expected.code, probe: probe, asked: asked)
            }
            let nobody = try NamesLesson.refusing("127.0.0.1")
            let port = nobody.address.port!
            let asked = "openConnection(host: \"localhost\", port: \(port), attemptTimeout: 0.5) (nothing listens there)"
            let outcome = try probe.attempt(asked, returns: { [$0] }, seconds: 1.5, blockedHint: .attemptTimeout) {
                try openConnection(host: "localhost", port: port, attemptTimeout: 0.5)
            }
            try expectSocketError(outcome, call: "connect", code: ECONNREFUSED, probe: probe, function: asked) { _ in .lastError }
            withExtendedLifetime(nobody.keep) {}
        }
    }

    // Row 37: one listener on [::] takes an IPv4 client (from 127.0.0.0/8, seen as
    // ::ffff:a.b.c.d) and an IPv6 client (::1); IPV6_V6ONLY reads back 0; the backlog is the
    // one given; clientAddress reports each client as the harness sees itself.
    func test8_dualStackListenerTakesBothFamilies() throws {
        try grade {
            let probe = Probe("makeDualStackListener(port:backlog:) listens on [::] for IPv6 and IPv4 clients; clientAddress(of:) reports each")
            let random = probe.random
            let backlog = Int32(random.int(in: 3...12))
            let fd = try probe.call("makeDualStackListener(port: 0, backlog: \(backlog))", returns: { [$0] }, errorHint: { $0 is LookupError ? .passiveFlag : nil }) {
                try makeDualStackListener(port: 0, backlog: backlog)
            }
            defer { closeIfOpen(fd) }
            let bound = try Inspect.localAddress(fd)
            guard case .ipv6(let host, let port) = bound, host == "::", port != 0 else {
                throw probe.fail(expected: "a listener bound to [::] and a port the kernel chose", actual: "it is bound to \(bound)",
                                 hint: bound.host == "::1" ? .passiveFlag : .resolveHints)
            }
            guard try Inspect.isListening(fd) else {
                throw probe.fail(expected: "a listening socket", actual: "\(Inspect.describe(fd)) is not listening", hint: .listenerBacklog)
            }
            if let held = NamesLesson.backlog(fd), held != backlog {
                throw probe.fail(expected: "listen backlog \(backlog)", actual: "the kernel holds \(held)", hint: .listenerBacklog)
            }
            guard try Inspect.intOption(fd, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR") != 0 else {
                throw probe.fail(expected: "SO_REUSEADDR on (read back with getsockopt)", actual: "it is off", hint: .listenerReuse)
            }
            let v6only = try Inspect.intOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, "IPV6_V6ONLY")
            let source = NamesLesson.loopback4(random)
            let clients: [(SocketAddress, SocketAddress?)] = [
                (.ipv4(host: NamesLesson.loopback4(random), port: port), .ipv4(host: source, port: 0)),
                (.ipv6(host: "::1", port: port), nil),
            ]
            for (target, from) in clients {
                let client: HarnessSocket
                do {
                    client = try HarnessSocket.connect(to: target, from: from, seconds: 0.5)
                } catch {
                    throw probe.fail(expected: "a client of \(target) accepted", actual: "its connect failed: \(error) (IPV6_V6ONLY reads \(v6only))", hint: target.family == .inet ? .v6only : .passiveFlag)
                }
                guard Inspect.waitReadable(fd, seconds: 0.5) else {
                    throw probe.fail(expected: "the client's connection queued on the listener", actual: "nothing to accept", hint: .v6only)
                }
                let connection = accept(fd, nil, nil)
                guard connection >= 0 else { throw SocketError(call: "accept") }
                defer { _ = close(connection) }
                let me = try client.localAddress
                let reported = try probe.call("clientAddress(of:) on the connection from \(me)", errorHint: { $0 is LookupError ? .peerNumeric : nil }) {
                    try clientAddress(of: connection)
                }
                guard reported == me else {
                    let hint: Hint = me.family == .inet && reported.host?.hasPrefix("::ffff:") == true ? .mappedPeer
                        : reported.host == me.host && reported.port == me.port?.byteSwapped ? .portByteOrder : .peerNumeric
                    throw probe.fail(expected: "\(me), as the client sees itself", actual: "it returned \(reported)", hint: hint)
                }
                client.close()
            }
        }
    }

    // Row 37, the port and the error path: a free port asked for is the port it listens on;
    // a port already taken (by an IPv6 listener on ::1, or an IPv4 one in 127.0.0.0/8, which
    // a dual-stack [::] also covers) gives EADDRINUSE, and nothing is left open.
    func test8b_dualStackListenerOnAGivenOrTakenPort() throws {
        try grade {
            let probe = Probe("makeDualStackListener(port:backlog:) listens on the port given, and throws EADDRINUSE for a port taken in either family, leaving nothing open")
            let random = probe.random
            // A port free a moment ago (and its byte-swapped twin). Another process, or a client of a
            // check running beside this one, may take it first: on EADDRINUSE, try another, 5 at most.
            var free: UInt16 = 0
            var fd: Int32 = -1
            for attempt in 1...5 {
                free = try FreePort.withFreeByteSwap()
                let port = free
                let outcome = try probe.attempt("makeDualStackListener(port: \(port))", returns: { [$0] }) { try makeDualStackListener(port: port) }
                switch outcome {
                case .success(let value): fd = value
                case .failure(let error as SocketError) where error.code == EADDRINUSE && attempt < 5: continue
                case .failure(let error):
                    throw probe.fail(expected: "makeDualStackListener(port: \(port)) to succeed", actual: "it threw \(error)", hint: error is LookupError ? .passiveFlag : .listenerPort)
                }
                break
            }
            let bound = try Inspect.localAddress(fd)
            closeIfOpen(fd)
            guard bound == .ipv6(host: "::", port: free) else {
                let hint: Hint = bound.port == free.byteSwapped ? .portByteOrder : bound.port != free ? .listenerPort : .passiveFlag
                throw probe.fail(expected: "a listener on [::]:\(free)", actual: "it listens on \(bound)", hint: hint)
            }
            for host in ["::1", NamesLesson.loopback4(random)] {
                let taken = try HarnessSocket.listener(host: host)
                let port = try taken.localAddress.port!
                let asked = "makeDualStackListener(port: \(port)) (\(host) port \(port) is taken by another listener)"
                let outcome = try probe.attempt(asked, returns: { [$0] }) { try makeDualStackListener(port: port) }
                try expectSocketError(outcome, call: "bind", code: EADDRINUSE, probe: probe, function: asked) { listener in
                    guard let local = try? Inspect.localAddress(listener) else { return nil }
                    if local.port != port { return .listenerPort }
                    return host.contains(":") ? .passiveFlag : .v6only
                }
                taken.close()
            }
        }
    }

    // Row 37: clientAddress on its own: an IPv4-mapped peer (an IPv6 socket connected to
    // ::ffff:a.b.c.d), a plain IPv4 one, ::1; and its error paths (-1, a closed number,
    // a pipe, a socket with no peer).
    func test9_clientAddressReadsEveryKindOfPeer() throws {
        try grade {
            let probe = Probe("clientAddress(of:) reports the peer numerically, an IPv4-mapped peer as IPv4, and throws getpeername's errors")
            let random = probe.random
            let v4 = NamesLesson.loopback4(random)
            let listener4 = try HarnessSocket.listener(host: v4)
            let port4 = try listener4.localAddress.port!
            // An IPv6 socket reaching an IPv4 listener: its peer is ::ffff:a.b.c.d.
            let mappedClient = try HarnessSocket.connect(to: .ipv6(host: "::ffff:\(v4)", port: port4), seconds: 0.5)
            let ipv4Client = try HarnessSocket.connect(to: .ipv4(host: v4, port: port4), seconds: 0.5)
            let listener6 = try HarnessSocket.listener(host: "::1")
            let plainClient = try HarnessSocket.connect(to: listener6.localAddress, seconds: 0.5)
            let cases: [(Int32, SocketAddress, String)] = [
                (mappedClient.fd, .ipv4(host: v4, port: port4), "an IPv6 socket connected to [::ffff:\(v4)]:\(port4)"),
                (ipv4Client.fd, .ipv4(host: v4, port: port4), "an IPv4 socket connected to \(v4):\(port4)"),
                (plainClient.fd, try listener6.localAddress, "a socket connected to \(try listener6.localAddress)"),
            ]
            for (fd, expected, story) in cases {
                let got = try probe.call("clientAddress(of:) on \(story)", errorHint: { $0 is LookupError ? .peerNumeric : nil }) { try clientAddress(of: fd) }
                guard got == expected else {
                    let hint: Hint = got.host?.hasPrefix("::ffff:") == true ? .mappedPeer : got.port == expected.port?.byteSwapped ? .portByteOrder : .peerNumeric
                    throw probe.fail(expected: "\(expected)", actual: "it returned \(got)", hint: hint)
                }
            }
            let unconnected = try HarnessSocket.make(random.pick([.inet, .inet6]))
            let closed = ErrorInputs.closedDescriptor(random)
            try ErrorInputs.withPipe { pipeEnd in
                for (fd, code, story) in [(Int32(-1), EBADF, "-1"), (closed, EBADF, "a closed descriptor \(closed)"), (pipeEnd, ENOTSOCK, "a pipe"), (unconnected.fd, ENOTCONN, "a socket with no peer")] {
                    let asked = "clientAddress(of: \(story))"
                    let outcome = try probe.attempt(asked) { try clientAddress(of: fd) }
                    try expectSocketError(outcome, call: "getpeername", code: code, probe: probe, function: asked)
                }
            }
            withExtendedLifetime((listener4, mappedClient, ipv4Client, listener6, plainClient)) {}
        }
    }

    // MARK: - Helpers

    /// The outcome must be a LookupError with `code` and gai_strerror's text for it.
    static func expectLookupError<Value>(_ outcome: Result<Value, any Error>, _ code: Int32, probe: Probe, asked: String) throws {
        let expected = "LookupError(code: \(code) (\(NamesLesson.name(code))), text: \"\(NamesLesson.text(code))\")"
        switch outcome {
        case .success(let value):
            if let fd = value as? Int32 { closeIfOpen(fd) }
            throw probe.fail(expected: expected + " from \(asked)", actual: Probe.returned(value), hint: .gaiCode)
        case .failure(let error as LookupError):
            guard error.code == code else {
                throw probe.fail(expected: expected, actual: "it threw LookupError(code: \(error.code), text: \"\(error.text)\")", hint: .gaiCode)
            }
            guard error.text == NamesLesson.text(code) else {
                throw probe.fail(expected: expected, actual: "it threw LookupError(code: \(error.code), text: \"\(error.text)\")", hint: .gaiStrerror)
            }
        case .failure(let error):
            throw probe.fail(expected: expected + " from \(asked)", actual: "it threw \(type(of: error)): \(error)", hint: .gaiNotErrno)
        }
    }

    static func flagNames(_ flags: Int32) -> String {
        let names = [(AI_PASSIVE, "AI_PASSIVE"), (AI_NUMERICHOST, "AI_NUMERICHOST"), (AI_NUMERICSERV, "AI_NUMERICSERV")]
            .filter { flags & $0.0 != 0 }.map(\.1)
        return names.isEmpty ? "0" : names.joined(separator: " | ")
    }

    static func seconds(_ value: Double) -> String { String(format: "%.3f s", value) }
}
