import Foundation
import GradingHarness
import Lesson01
import SocketKit
import XCTest

/// Grades Exercises/Lesson01/CreateSocket.swift. Checklist rows 1, 2 and 3.
///
/// Every call the learner's code is expected to get right runs with a stale errno planted
/// first (a leftover from an earlier failure), so an answer that judges success by errno
/// rather than by the result fails. Every error path is tried with inputs the learner
/// cannot special-case: a closed positive descriptor and a pipe beside -1, an unsupported
/// family and type drawn from the seed, and a full descriptor table.
final class Lesson01CreateGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(1)
    }

    static let common: [(AddressFamily, SocketType)] = [
        (.inet, .stream), (.inet, .datagram), (.inet6, .stream), (.inet6, .datagram), (.unix, .stream), (.unix, .datagram),
    ]

    /// Every kind this machine lets an ordinary process create: the common six, then kinds
    /// a lookup table of "the usual ones" would get wrong.
    static let kinds: [(AddressFamily, SocketType)] = {
        var kinds = common + [(.unix, .seqpacket)]
        #if os(Linux)
        kinds += [(.netlink, .raw), (.netlink, .datagram)]
        #endif
        return kinds.filter { family, type in
            let fd = socket(family.rawValue, type.rawValue, 0)
            if fd >= 0 { _ = LibC.close(fd) }
            return fd >= 0
        }
    }()

    // Row 1: the socket is the family and type that were asked for, as the kernel tells it.
    func test1_openSocketCreatesTheKindAsked() throws {
        try grade {
            for (family, type) in Self.kinds {
                let probe = Probe("openSocket(family: .\(family.name), type: .\(type.name)) creates that kind of socket")
                let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let outcome = try probe.run("openSocket(family:type:)", returns: { [$0] }, stale: stale) {
                    try openSocket(family: family, type: type)
                }
                let fd = try probe.succeeded(outcome, "openSocket(family:type:)", stale: stale, errorHint: Self.openErrorHint)
                defer { closeIfOpen(fd) }
                guard Inspect.isSocket(fd), !Inspect.isHarnessOwned(fd) else {
                    throw probe.fail(expected: "the descriptor of a new socket", actual: "it returned \(Inspect.describe(fd))", hint: Inspect.isOpen(fd) ? .returnTheDescriptor : .closedBeforeReturning)
                }
                let actual = (family: try Inspect.family(fd), type: try Inspect.type(fd))
                guard actual == (family, type) else {
                    throw probe.fail(
                        expected: "an \(family) \(type) socket",
                        actual: "an \(actual.family) \(actual.type) socket (read back with getsockopt SO_DOMAIN / SO_TYPE)",
                        hint: .wrongKind)
                }
            }
        }
    }

    // 0 is a descriptor: with standard input closed, the first socket gets it.
    func test1b_openSocketReturnsDescriptorZero() throws {
        try grade {
            let probe = Probe("openSocket(family: .inet, type: .stream) with descriptor 0 free (standard input closed, as in a daemon)")
            let stale = StaleErrno.cleared  // only the 0 is under test here
            let zero = DescriptorZeroFree()
            defer { zero.restore() }
            let outcome = try probe.run("openSocket(family:type:)", returns: { [$0] }, stale: stale) {
                try openSocket(family: .inet, type: .stream)
            }
            try expectDescriptorZeroAccepted(outcome, probe: probe, function: "openSocket(family:type:)")
            let fd = try probe.succeeded(outcome, "openSocket(family:type:)", stale: stale, errorHint: Self.openErrorHint)
            defer { closeIfOpen(fd) }
            guard Inspect.isSocket(fd), (try? Inspect.type(fd)) == .stream, (try? Inspect.family(fd)) == .inet else {
                throw probe.fail(expected: "the descriptor of a new AF_INET SOCK_STREAM socket", actual: "it returned \(Inspect.describe(fd))", hint: Inspect.isOpen(fd) ? .returnTheDescriptor : .closedBeforeReturning)
            }
        }
    }

    /// What a failed openSocket says about the call it made, for a kind the kernel supports.
    static func openErrorHint(_ error: any Error) -> Hint? {
        guard let error = error as? SocketError else { return nil }
        switch error.code {
        case EPROTONOSUPPORT, EPROTOTYPE, ESOCKTNOSUPPORT: return .protocolNotZero
        case EAFNOSUPPORT, EINVAL: return .wrongKind
        default: return nil
        }
    }

    // Row 2: a failed socket() is an error, not a descriptor, and carries the errno socket()
    // set: an unsupported family and type (drawn from the seed), a type with no default
    // protocol, and a full descriptor table.
    func test2_openSocketReportsFailure() throws {
        try grade {
            let inputs = GradingSeed.generator(for: "openSocket(family:type:) failures")
            let family = AddressFamily(rawValue: Int32(inputs.int(in: 64...60_000)))
            let type = SocketType(rawValue: Int32(inputs.int(in: 11...2000)))
            let (realFamily, realType) = inputs.pick(Self.common)
            let cases: [(AddressFamily, SocketType, Int32, String, Bool)] = [
                (family, .stream, EAFNOSUPPORT, "address family \(family.rawValue), which does not exist", false),
                (.inet, type, EINVAL, "socket type \(type.rawValue), which does not exist", false),
                (.inet, .raw, EPROTONOSUPPORT, "a raw IPv4 socket, which has no protocol 0", false),
                (realFamily, realType, EMFILE, "\(realFamily) \(realType) with the descriptor table full", true),
            ]
            var results: [(Probe, StaleErrno, LearnerOutcome<Int32>, Int32)] = []
            for (family, type, code, what, fillTable) in cases {
                let probe = Probe("openSocket(family:type:) reports a failed socket() call (\(what))")
                let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let table = FullDescriptorTable()
                let outcome = try probe.run(
                    "openSocket(family:type:)", returns: { [$0] }, stale: stale, unblock: { table.restore() },
                    blockedHint: .waitsForADescriptor, spinningHint: .waitsForADescriptor
                ) {
                    fillTable ? try table.around { try openSocket(family: family, type: type) } : try openSocket(family: family, type: type)
                }
                results.append((probe, stale, outcome, code))
            }
            // The same code for different failures, right for one of them: a code written into
            // the error, not errno's. (The same wrong code every time is errno read too late.)
            let thrown = results.compactMap { $0.2.socketError?.code }
            if thrown.count == results.count, Set(thrown).count == 1, results.contains(where: { $0.3 == thrown[0] }), let (probe, _, outcome, code) = results.first(where: { $0.2.socketError?.code != $0.3 }) {
                results.forEach { if let fd = $0.2.value { closeIfOpen(fd) } }
                throw probe.fail(
                    expected: "openSocket(family:type:) to throw SocketError with \(errnoName(code)) from socket()",
                    actual: "\(outcome.described), as it did for all \(results.count) different failures (\(results.map { errnoName($0.3) }.joined(separator: ", ")) expected)",
                    hint: .errnoMadeUp)
            }
            for (index, (probe, stale, outcome, code)) in results.enumerated() {
                defer { results[(index + 1)...].forEach { if let fd = $0.2.value { closeIfOpen(fd) } } }
                // A working socket for an impossible request means the arguments never reached socket().
                try probe.expectFailure(
                    outcome, calls: ["socket"], code: code, stale: stale, function: "openSocket(family:type:)",
                    returnedHint: { Inspect.isSocket($0) ? .wrongKind : nil })
            }
        }
    }

    // The type and family are read from the kernel, for sockets the harness made; the
    // socket stays open (it is the caller's).
    func test3_socketTypeAndFamilyAskTheKernel() throws {
        try grade {
            for (family, type) in Self.kinds {
                let probe = Probe("socketType(of:) and socketFamily(of:) read back a \(family) \(type) socket")
                let socket = try HarnessSocket.make(family, type)
                let identity = Inspect.identity(socket.fd)
                let typeStale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let gotType = try probe.succeeded(
                    probe.run("socketType(of:)", stale: typeStale) { try socketType(of: socket.fd) },
                    "socketType(of:)", stale: typeStale, errorHint: { _ in .readBack })
                try expectStillOpen(socket.fd, identity, probe: probe, after: "socketType(of:)")
                let familyStale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let gotFamily = try probe.succeeded(
                    probe.run("socketFamily(of:)", stale: familyStale) { try socketFamily(of: socket.fd) },
                    "socketFamily(of:)", stale: familyStale, errorHint: { _ in .readBack })
                try expectStillOpen(socket.fd, identity, probe: probe, after: "socketFamily(of:)")
                guard gotType == type, gotFamily == family else {
                    // A lookup of "the usual kinds" turns the others into one of them.
                    let mapped = (gotType != type && !Self.isCommon(type) && Self.isCommon(gotType))
                        || (gotFamily != family && !Self.isCommon(family) && Self.isCommon(gotFamily))
                    throw probe.fail(
                        expected: "\(family) and \(type) (what the kernel says about fd \(socket.fd))",
                        actual: "socketFamily said \(gotFamily), socketType said \(gotType)",
                        hint: mapped ? .rawValueMapped : .readBack)
                }
            }
        }
    }

    // The kernel is asked every time: a number the learner's openSocket returned is closed
    // and reused for another kind of socket (as happens when anyone closes it), and the
    // read-back must describe the new one, not what openSocket made.
    func test3b_readBackAfterTheNumberIsReused() throws {
        try grade {
            let probe = Probe("socketType(of:) and socketFamily(of:) ask the kernel, even about a number openSocket returned")
            let (family, type) = probe.random.pick([(AddressFamily.inet, SocketType.stream), (.inet, .datagram), (.unix, .stream)])
            let fd = try probe.call("openSocket(family:type:)", returns: { [$0] }) { try openSocket(family: family, type: type) }
            guard Inspect.isSocket(fd) else {
                throw probe.fail(expected: "the descriptor of a new socket", actual: Probe.returned(fd), hint: .returnTheDescriptor)
            }
            let reused = try HarnessSocket.reusing(fd, for: try HarnessSocket.make(.inet6, .datagram))
            defer { reused.close() }
            let gotType = try probe.call("socketType(of: \(fd))", errorHint: { _ in .readBack }) { try socketType(of: fd) }
            let gotFamily = try probe.call("socketFamily(of: \(fd))", errorHint: { _ in .readBack }) { try socketFamily(of: fd) }
            guard gotType == .datagram, gotFamily == .inet6 else {
                throw probe.fail(
                    expected: "inet6 and datagram: fd \(fd) was closed and now names a new IPv6 UDP socket",
                    actual: "socketFamily said \(gotFamily), socketType said \(gotType)"
                        + (gotFamily == family && gotType == type ? " (what openSocket had made at that number)" : ""),
                    hint: gotFamily == family && gotType == type ? .rememberedKind : .readBack)
            }
        }
    }

    static func isCommon(_ type: SocketType) -> Bool { type == .stream || type == .datagram }
    static func isCommon(_ family: AddressFamily) -> Bool { [.inet, .inet6, .unix].contains(family) }

    /// The descriptor the harness lent the learner's function is still open.
    private func expectStillOpen(_ fd: Int32, _ identity: [UInt64]?, probe: Probe, after function: String) throws {
        guard Inspect.identity(fd) == identity else {
            throw probe.fail(
                expected: "fd \(fd) still open after \(function) (it belongs to the caller)",
                actual: "it was closed", hint: .closedCallersDescriptor)
        }
    }

    // Row 2 again: getsockopt can fail too, and its -1 must not become an answer: -1, a
    // positive number that is not open (EBADF), and a pipe (ENOTSOCK), which stays open.
    func test4_readBackReportsFailure() throws {
        try grade {
            let random = GradingSeed.generator(for: "socketType(of:) and socketFamily(of:) failures")
            var minusOneHandled = (type: false, family: false)
            try BadDescriptor.each(random) { input, pipeStillOpen in
                let probe = Probe("socketType(of:) and socketFamily(of:) report a failed call (\(input.text))")
                let fd = input.fd
                let typeStale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let type = try probe.run("socketType(of: \(fd))", stale: typeStale) { try socketType(of: fd) }
                try probe.expectFailure(
                    type, calls: ["getsockopt"], code: input.code, stale: typeStale, function: "socketType(of:)",
                    minusOneWasRight: minusOneHandled.type)
                if input.fd == -1 { minusOneHandled.type = true }
                try expectPipeOpen(input, pipeStillOpen, probe: probe, after: "socketType(of:)")

                let familyStale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let family = try probe.run("socketFamily(of: \(fd))", stale: familyStale) { try socketFamily(of: fd) }
                try probe.expectFailure(
                    family, calls: nil, code: input.code, stale: familyStale, function: "socketFamily(of:)",
                    minusOneWasRight: minusOneHandled.family)
                if input.fd == -1 { minusOneHandled.family = true }
                try expectPipeOpen(input, pipeStillOpen, probe: probe, after: "socketFamily(of:)")
            }
        }
    }

    private func expectPipeOpen(_ input: BadDescriptor, _ stillOpen: () -> Bool, probe: Probe, after function: String) throws {
        guard case .pipe(let fd) = input, !stillOpen() else { return }
        throw probe.fail(
            expected: "\(function) to throw and leave fd \(fd) (the caller's pipe) open",
            actual: "it closed fd \(fd)", hint: .closedCallersDescriptor)
    }

    // closeSocket really closes, and reports closing what is not open: -1 and a positive
    // number that is not open. A pipe is closed too (close works on any descriptor), or left
    // open with an error; never closed and reported as a failure.
    func test5_closeSocketCloses() throws {
        try grade {
            let probe = Probe("closeSocket(_:) closes the socket, and reports a descriptor that is not open")
            let fd = socket(AF_INET, SocketType.stream.rawValue, 0)  // the learner's to close
            guard fd >= 0 else { throw SocketError(call: "socket") }
            // Descriptor numbers are reused at once, so "is fd N open?" cannot tell; the
            // socket's identity (its inode) can.
            let identity = Inspect.identity(fd)
            defer { if Inspect.identity(fd) == identity { _ = LibC.close(fd) } }
            let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
            let outcome = try probe.run("closeSocket(_:)", stale: stale) { try closeSocket(fd) }
            if case .failure = outcome.result, Inspect.identity(fd) != identity, outcome.socketError?.code == stale.code {
                throw probe.fail(
                    expected: "closeSocket(_:) to close fd \(fd) and return",
                    actual: "it closed fd \(fd), then \(outcome.described.dropFirst(3)): errno held \(stale.name) from an earlier failure; close itself succeeded",
                    hint: .staleErrnoTakenForFailure)
            }
            try probe.succeeded(outcome, "closeSocket(_:)", stale: stale, errorHint: Self.closeErrorHint)
            guard identity == nil || Inspect.identity(fd) != identity else {
                throw probe.fail(expected: "fd \(fd) closed", actual: "\(Inspect.describe(fd)) is still open", hint: .notClosed)
            }

            let random = GradingSeed.generator(for: "closeSocket(_:) failures")
            var minusOneHandled = false
            try BadDescriptor.each(random) { input, pipeStillOpen in
                let probe = Probe("closeSocket(_:) on \(input.text)")
                let bad = input.fd
                let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
                let outcome = try probe.run("closeSocket(\(bad))", stale: stale) { try closeSocket(bad) }
                if case .pipe = input {
                    try failIfLeakedOrBlamed(outcome, pipeClosed: !pipeStillOpen(), fd: bad, stale: stale, probe: probe)
                    return
                }
                // Closing a real number twice could close someone else's file: only numbers that are not open.
                try probe.expectFailure(
                    outcome, calls: ["close"], code: EBADF, stale: stale, function: "closeSocket(_:)",
                    minusOneWasRight: minusOneHandled)
                if bad == -1 { minusOneHandled = true }
            }
        }
    }

    /// What a closeSocket that threw for an open socket did wrong.
    static func closeErrorHint(_ error: any Error) -> Hint? {
        (error as? SocketError)?.call.hasPrefix("shutdown") == true ? .shutdownIsNotClose : .notClosed
    }

    /// closeSocket on a pipe: returning means it closed it; throwing means it did not.
    private func failIfLeakedOrBlamed(_ outcome: LearnerOutcome<Void>, pipeClosed: Bool, fd: Int32, stale: StaleErrno, probe: Probe) throws {
        try probe.failIfLeaked(outcome, "closeSocket(_:)")
        switch (outcome.result, pipeClosed) {
        case (.success, false):
            throw probe.fail(expected: "fd \(fd) closed (close works on any descriptor), or an error", actual: "it returned and fd \(fd) is still open", hint: .notClosed)
        case (.failure(let error), true):
            throw probe.fail(
                expected: "closeSocket(_:) to close fd \(fd) and return (close works on any descriptor)",
                actual: "it closed fd \(fd), then threw \(error)",
                hint: (error as? SocketError)?.code == stale.code ? .staleErrnoTakenForFailure : .uncheckedResult("close"))
        default:
            return
        }
    }

    // Row 3: hundreds of open/close cycles leave nothing behind.
    func test6_openAndCloseLeaveNothingOpen() throws {
        try grade {
            let probe = Probe("openSocket then closeSocket, 300 times, leaves no socket open")
            try probe.call("openSocket(family:type:) and closeSocket(_:) (300 times)") {
                for _ in 0..<300 {
                    let fd = try openSocket(family: .inet, type: .stream)
                    try closeSocket(fd)
                }
            }
        }
    }

    // A descriptor is closed exactly once. The harness makes the learner's close() linger
    // (unsent data, SO_LINGER on), takes the freed number while that close is still
    // finishing, and only then lets it finish: a second close() of the same number closes the
    // harness's file, and shows.
    func test7_closeSocketClosesExactlyOnce() throws {
        #if os(Linux)
        try grade {
            let probe = Probe("closeSocket(_:) closes the descriptor once (a second close would close whoever got the number next)")
            let pair = try LingeringSocket.make()
            defer { pair.finish() }
            let stale = StaleErrno(probe.random, from: StaleErrno.firstLessons)
            let taker = NumberTaker(pair.fd, whenTaken: { pair.releaseClose() })
            taker.start()
            let outcome = try probe.run("closeSocket(_:)", stale: stale) { try closeSocket(pair.fd) }
            taker.stop()
            try probe.succeeded(outcome, "closeSocket(_:)", stale: stale, errorHint: Self.closeErrorHint)
            guard pair.wasClosed else {
                throw probe.fail(expected: "fd \(pair.fd) closed", actual: "\(Inspect.describe(pair.fd)) is still open", hint: .notClosed)
            }
            guard taker.tookTheNumber else { return }  // someone else got it first: no verdict either way
            guard taker.stillHolds else {
                throw probe.fail(
                    expected: "one close(\(pair.fd)); fd \(pair.fd) then belongs to whoever opens a file next (here: the harness, while your close was finishing)",
                    actual: "after closeSocket(\(pair.fd)) returned, the harness's file on fd \(pair.fd) had been closed too: close was called on that number a second time",
                    hint: .closedTwice)
            }
        }
        #endif
    }
}

extension Hint {
    static let rememberedKind = Hint("remembered-kind", "Ask the kernel every time (getsockopt SO_TYPE / SO_DOMAIN); don't answer from what openSocket made. A descriptor number is reused as soon as it is closed, by any code (close() as well as closeSocket), so a table keyed by number goes stale.")
    static let wrongKind = Hint("wrong-kind", "Pass the family and type you were given to socket(): socket(family.rawValue, type.rawValue, 0). The family picks the kind of address (AF_INET, AF_INET6, AF_UNIX); the type picks stream (TCP) or datagram (UDP).")
    static let returnTheDescriptor = Hint("return-descriptor", "Return exactly the number socket() gave you: it is the descriptor, and the only name the socket has.")
    static let readBack = Hint("read-back", "Ask the kernel, don't assume: getsockopt(fd, SOL_SOCKET, SO_TYPE, ...) for the type, SO_DOMAIN (Linux) for the family. The answer lands in the Int32 you pass with &.")
    static let notClosed = Hint("not-closed", "closeSocket must call close(fd). Until it does, the descriptor and the kernel's socket stay allocated.")
    static let protocolNotZero = Hint("protocol-zero", "Pass 0 as socket()'s third argument, the protocol: it means \"the usual one for this family and type\". A fixed IPPROTO_TCP or IPPROTO_UDP fits only some kinds; for AF_UNIX, or a datagram socket, socket() refuses it with EPROTONOSUPPORT.")
    static let errnoMadeUp = Hint("errno-made-up", "Different failures came back with the same code: the code was written into the error instead of read from errno. Use SocketError(call: \"socket\") right after socket() returned -1: it takes errno, which says why this call failed (EAFNOSUPPORT, EINVAL, EMFILE...).")
    static let waitsForADescriptor = Hint("waits-for-descriptor", "With the descriptor table full (EMFILE), socket() fails and keeps failing until something else is closed: retrying in a loop, or sleeping and retrying, never ends by itself. Throw SocketError(call: \"socket\") and let the caller decide.")
    static let rawValueMapped = Hint("raw-value", "Return the kernel's number as it is: SocketType(rawValue: value) and AddressFamily(rawValue: value). A switch that knows only stream and datagram (or AF_INET, AF_INET6 and AF_UNIX) turns every other kind, such as SOCK_SEQPACKET or AF_NETLINK, into a wrong answer.")
    static let shutdownIsNotClose = Hint("shutdown-not-close", "shutdown() ends a connection's traffic but frees nothing, and fails with ENOTCONN on a socket that never connected. closeSocket is close(fd) alone: it works for every socket, connected or not.")
    static let closedTwice = Hint("closed-twice", "Call close once per descriptor, and never again on the same number, even to \"make sure\". Once close has begun, the number is free and the next file anyone opens (another thread's socket, a log file) may get it; a second close(fd) closes that file instead. close's result says whether it worked.")
}

extension AddressFamily {
    /// AF_NETLINK (Linux): how programs talk to the kernel's network configuration. Any
    /// user may open one, so it tests a family beyond the usual three.
    static let netlink = AddressFamily(rawValue: 16)

    var name: String {
        switch self {
        case .inet: return "inet"
        case .inet6: return "inet6"
        case .unix: return "unix"
        case .netlink: return "init(rawValue: 16 /* AF_NETLINK */)"
        default: return "init(rawValue: \(rawValue))"
        }
    }
}

extension SocketType {
    /// SOCK_SEQPACKET: a connection that keeps message boundaries (AF_UNIX has it).
    static let seqpacket = SocketType(rawValue: 5)

    var name: String {
        switch self {
        case .stream: return "stream"
        case .datagram: return "datagram"
        case .raw: return "raw"
        case .seqpacket: return "init(rawValue: 5 /* SOCK_SEQPACKET */)"
        default: return "init(rawValue: \(rawValue))"
        }
    }
}
