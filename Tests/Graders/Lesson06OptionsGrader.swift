import Foundation
import GradingHarness
import Lesson06
import SocketKit
import XCTest

/// Grades Exercises/Lesson06/Options.swift. Checklist rows 3, 16, 22 to 26. Every option
/// is read back from the kernel; what the learner's functions return is never taken on trust.
/// Inputs (addresses in 127.0.0.0/8, sizes, timeouts, backlogs) come from the check's seed.
final class Lesson06OptionsGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(6)
    }

    // Rows 22 and 25: each flag lands on its own level, takes the value it was given (on
    // twice stays on, off twice stays off), read back from the kernel after every call.
    func test1_flagOptionsAreSetAndCleared() throws {
        try grade {
            typealias Setter = @Sendable (Int32, Bool) throws -> Void
            let flags: [(String, Setter, Int32, Int32, String)] = [
                ("setReuseAddress(_:_:)", { try setReuseAddress($0, $1) }, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR"),
                ("setKeepAlive(_:_:)", { try setKeepAlive($0, $1) }, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE"),
                ("setNoDelay(_:_:)", { try setNoDelay($0, $1) }, Int32(IPPROTO_TCP), TCP_NODELAY, "TCP_NODELAY"),
            ]
            let sequence = [true, true, false, false, true]
            for (function, setter, level, name, label) in flags {
                let probe = Probe("\(function) sets \(label) to what it is asked: on, on again, off, off again, on (read back with getsockopt after each call)")
                let family: AddressFamily = probe.random.pick([.inet, .inet6])
                let socket = try HarnessSocket.make(family)
                let fd = socket.fd
                let watched = OptionsLesson.watchedOptions(family: family)
                let levelName = level == SOL_SOCKET ? "SOL_SOCKET" : "IPPROTO_TCP"
                for (step, enabled) in sequence.enumerated() {
                    let stale = OptionsLesson.staleErrno(probe.random)
                    let wasOn = try Inspect.intOption(fd, level, name, label) != 0
                    let before = OptionsLesson.snapshot(fd, watched)
                    let call = "\(function) with \(enabled) (call \(step + 1) of \(sequence.count), on a new \(family == .inet ? "IPv4" : "IPv6") TCP socket where \(label) was \(wasOn ? "on" : "off"))"
                    try probe.call(call, errorHint: OptionsLesson.errorHint(stale: stale) { Self.setterErrorHint($0, family: family, level: level, name: name) }) {
                        errno = stale
                        try setter(fd, enabled)
                    }
                    let actual = try Inspect.intOption(fd, level, name, label) != 0
                    let changed = OptionsLesson.changed(before, OptionsLesson.snapshot(fd, watched), except: level, name)
                    if actual == enabled {
                        // Right, but something else changed too (SO_REUSEPORT "to be safe"...). Tuning
                        // keepalive's timing along with SO_KEEPALIVE is allowed.
                        let keepaliveTuning = name == SO_KEEPALIVE ? OptionsLesson.keepaliveTuning : []
                        guard let other = changed.first(where: { !keepaliveTuning.contains($0.name) || $0.level != Int32(IPPROTO_TCP) }) else { continue }
                        throw probe.fail(
                            expected: "\(label) \(enabled ? "on" : "off"), and no other option changed",
                            actual: "\(label) reads back \(actual ? "on" : "off"), and the call also changed \(changed.map(\.label).joined(separator: ", "))",
                            hint: OptionsHints.optionName(label, also: other.label))
                    }
                    let hint: Hint
                    if wasOn == enabled {
                        hint = OptionsHints.optionToggle  // it was already right, and the call flipped it
                    } else if !enabled {
                        hint = .optionValue
                    } else if changed.contains(where: { $0.name == name && $0.level != level }) {
                        hint = .optionLevel
                    } else if let other = changed.first {
                        hint = OptionsHints.optionName(label, instead: other.label)
                    } else {
                        hint = .optionValue
                    }
                    throw probe.fail(
                        expected: "\(label) \(enabled ? "on" : "off") at level \(levelName)",
                        actual: "it reads back \(actual ? "on" : "off")" + (changed.isEmpty ? "" : "; the call changed \(changed.map(\.label).joined(separator: ", ")) instead"),
                        hint: hint)
                }
            }
        }
    }

    // The kernel chooses buffer sizes (Linux doubles and clamps them); the function sets both
    // and reports what the kernel chose. Sizes tiny, middling and huge, from the seed.
    func test2_bufferSizesAreReadBack() throws {
        try grade {
            let probe = Probe("setBufferSizes(_:receive:send:) sets SO_RCVBUF and SO_SNDBUF and returns the sizes the kernel chose (asked: tiny, middling and huge sizes, three calls on one socket)")
            let random = probe.random
            let tiny = { Int32(random.int(in: 1...1100)) }
            let middling = { Int32(random.int(in: 3000...300_000)) }
            let huge = { Int32(random.int(in: 10_000_000...400_000_000)) }
            let pairs = [(tiny(), middling()), (middling(), huge()), (huge(), tiny())]
            let family: AddressFamily = random.pick([.inet, .inet6])
            let socket = try HarnessSocket.make(family)
            let fd = socket.fd
            for (receive, send) in pairs {
                let previous = (try Inspect.intOption(fd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"), try Inspect.intOption(fd, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"))
                let stale = OptionsLesson.staleErrno(random)
                let function = "setBufferSizes(_:receive: \(receive), send: \(send))"
                let returned = try probe.call(function, errorHint: OptionsLesson.errorHint(stale: stale) { _ in .optionValue }) {
                    errno = stale
                    return try setBufferSizes(fd, receive: receive, send: send)
                }
                let read = (try Inspect.intOption(fd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"), try Inspect.intOption(fd, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"))
                let chosen = try OptionsLesson.bufferSizesChosen(family: family, receive: receive, send: send)
                guard read == chosen else {
                    let crossed = try OptionsLesson.bufferSizesChosen(family: family, receive: send, send: receive)
                    let hint = read == crossed ? OptionsHints.bufferSwapped
                        : (read.0 == previous.0 && read.0 != chosen.receive) || (read.1 == previous.1 && read.1 != chosen.send) ? OptionsHints.bufferBoth
                        : OptionsHints.bufferAsked
                    throw probe.fail(
                        expected: "SO_RCVBUF \(chosen.receive) and SO_SNDBUF \(chosen.send) (what the kernel makes of receive \(receive) and send \(send))",
                        actual: "SO_RCVBUF \(read.0), SO_SNDBUF \(read.1)", hint: hint)
                }
                guard returned == read else {
                    let hint = returned == (read.1, read.0) && read.0 != read.1 ? OptionsHints.bufferOrder : Hint.readBackSize
                    throw probe.fail(
                        expected: "(receive: \(read.0), send: \(read.1)), as getsockopt reads them",
                        actual: "(receive: \(returned.receive), send: \(returned.send))"
                            + (returned == (receive, send) ? ": the sizes asked for" : returned == (receive &* 2, send &* 2) ? ": twice the sizes asked for, not what the kernel chose" : ""),
                        hint: hint)
                }
            }
        }
    }

    // Row 16: settimeout sets both directions to the seconds given (fractions, under a
    // millisecond, over a second), gettimeout reads SO_RCVTIMEO from the kernel, nil clears
    // both, and a silent peer really ends a recv in time.
    func test3_timeoutsBoundBlockingCalls() throws {
        try grade {
            let probe = Probe("setTimeout(_:_:) sets SO_RCVTIMEO and SO_SNDTIMEO to the seconds given; timeout(of:) reads SO_RCVTIMEO back; nil clears both")
            let random = probe.random
            let socket = try HarnessSocket.make()
            let fd = socket.fd
            let fresh = try probe.call("timeout(of:) on a new socket", errorHint: { _ in .timeval }) { try timeout(of: fd) }
            guard fresh == nil else {
                throw probe.fail(expected: "nil: a new socket has no timeout (SO_RCVTIMEO reads 0)", actual: "\(fresh!)", hint: .timeval)
            }
            let values: [Double] = [
                0.25,
                1.5,
                Double(random.int(in: 50...950)) / 1000,
                Double(random.int(in: 1...4)) + Double(random.int(in: 1...999)) / 1000,
                Double(random.int(in: 20...900)) / 1_000_000,
            ]
            // The kernel keeps timeouts in clock ticks (1 to 10 ms) and rounds up: 0.25 may read
            // back as 0.252, 0.0004 as 0.004.
            var previous = (receive: 0.0, send: 0.0)
            var lastAsked = 0.0
            for seconds in values {
                let stale = OptionsLesson.staleErrno(random)
                try probe.call("setTimeout(_:\(seconds))", errorHint: OptionsLesson.errorHint(stale: stale) { error in
                    (error as? SocketError)?.code == EDOM ? OptionsHints.timevalRange : .timeval
                }) {
                    errno = stale
                    try setTimeout(fd, seconds)
                }
                let set = (receive: try OptionsLesson.timeoutOption(fd, SO_RCVTIMEO), send: try OptionsLesson.timeoutOption(fd, SO_SNDTIMEO))
                let right = { (value: Double) in value >= seconds - 0.000002 && value <= seconds + 0.0105 }
                guard right(set.receive) && right(set.send) else {
                    let oneSided = (right(set.receive) && set.send == previous.send) || (right(set.send) && set.receive == previous.receive)
                    let hint: Hint
                    if oneSided {
                        hint = .bothTimeouts
                    } else if seconds < 0.001 && set.receive == 0 && set.send == 0 {
                        hint = OptionsHints.timevalPrecision
                    } else {
                        hint = .timeval
                    }
                    throw probe.fail(
                        expected: "SO_RCVTIMEO and SO_SNDTIMEO \(seconds) s (the kernel may round up by one clock tick, at most 10 ms)",
                        actual: "SO_RCVTIMEO \(set.receive) s, SO_SNDTIMEO \(set.send) s" + (set.receive == 0 && set.send == 0 ? " (all zeros: no timeout at all)" : ""),
                        hint: hint)
                }
                previous = set
                lastAsked = seconds
                let read = try probe.call("timeout(of:) after setTimeout(_:\(seconds))", errorHint: OptionsLesson.errorHint(stale: stale) { _ in .timeval }) {
                    errno = stale
                    return try timeout(of: fd)
                }
                guard let read, abs(read - set.receive) < 0.000002 else {
                    let hint = read.map { abs($0 - seconds) < 0.000002 } == true ? OptionsHints.gettimeoutKernel : Hint.timeval
                    throw probe.fail(expected: "\(set.receive), as SO_RCVTIMEO reads back", actual: read.map { "\($0)" } ?? "nil", hint: hint)
                }
            }

            // Set by someone else: the harness sets the two options to different values itself.
            let receive = (random.int(in: 1...3), random.int(in: 1...99) * 10_000)
            let send = (random.int(in: 4...6), random.int(in: 1...99) * 10_000)
            try OptionsLesson.setTimeoutOption(fd, SO_RCVTIMEO, seconds: receive.0, microseconds: receive.1)
            try OptionsLesson.setTimeoutOption(fd, SO_SNDTIMEO, seconds: send.0, microseconds: send.1)
            let harnessSet = (receive: try OptionsLesson.timeoutOption(fd, SO_RCVTIMEO), send: try OptionsLesson.timeoutOption(fd, SO_SNDTIMEO))
            let stale = OptionsLesson.staleErrno(random)
            let read = try probe.call("timeout(of:) after the harness set SO_RCVTIMEO to \(harnessSet.receive) s and SO_SNDTIMEO to \(harnessSet.send) s itself", errorHint: OptionsLesson.errorHint(stale: stale) { _ in .timeval }) {
                errno = stale
                return try timeout(of: fd)
            }
            guard let read, abs(read - harnessSet.receive) < 0.000002 else {
                let hint = read.map { abs($0 - harnessSet.send) < 0.000002 } == true ? OptionsHints.gettimeoutReceive
                    : read.map { abs($0 - lastAsked) < 0.000002 || abs($0 - previous.receive) < 0.000002 } == true ? OptionsHints.gettimeoutKernel : Hint.timeval
                throw probe.fail(expected: "\(harnessSet.receive) (SO_RCVTIMEO)", actual: read.map { "\($0)" } ?? "nil", hint: hint)
            }

            try probe.call("setTimeout(_:nil)", errorHint: OptionsLesson.errorHint(stale: stale) { _ in OptionsHints.timeoutNil }) {
                errno = stale
                try setTimeout(fd, nil)
            }
            let cleared = (receive: try OptionsLesson.timeoutOption(fd, SO_RCVTIMEO), send: try OptionsLesson.timeoutOption(fd, SO_SNDTIMEO))
            guard cleared == (0, 0) else {
                let oneSided = (cleared.receive == 0) != (cleared.send == 0)
                throw probe.fail(
                    expected: "SO_RCVTIMEO and SO_SNDTIMEO 0 (no timeout)", actual: "SO_RCVTIMEO \(cleared.receive) s, SO_SNDTIMEO \(cleared.send) s",
                    hint: oneSided ? .bothTimeouts : OptionsHints.timeoutNil)
            }
            let readNone = try probe.call("timeout(of:) after setTimeout(_:nil)", errorHint: { _ in .timeval }) { try timeout(of: fd) }
            guard readNone == nil else {
                throw probe.fail(expected: "nil (SO_RCVTIMEO reads 0: no timeout)", actual: "\(readNone!)", hint: .timeval)
            }

            // The effect: a recv on a silent connection gives up after about the time set.
            let effectProbe = Probe("after setTimeout(_:t), a recv on a silent connection fails with EAGAIN after about t seconds")
            let silent = try DrivenConnection.accepted(effectProbe)
            defer { silent.finish() }
            let limit = Double(effectProbe.random.int(in: 150...250)) / 1000
            let learnerEnd = silent.fd
            try effectProbe.call("setTimeout(_:\(limit))", errorHint: { _ in .timeval }) { try setTimeout(learnerEnd, limit) }
            let started = Clock.now
            let waited = try Deadline.run("recv on the socket", unblock: { _ = LibC.shutdown(learnerEnd, ShutdownHow.both) }) {
                var byte: UInt8 = 0
                let got = recv(learnerEnd, &byte, 1, 0)
                return (got, errno)
            }
            let took = Clock.now - started
            silent.note("the harness sent nothing; a recv on your socket waited \(Int(took * 1000)) ms")
            guard waited.0 == -1, waited.1 == EAGAIN || waited.1 == EWOULDBLOCK, took >= limit * 0.8, took < limit + 0.6 else {
                throw effectProbe.fail(
                    expected: "recv to fail with EAGAIN after about \(Int(limit * 1000)) ms",
                    actual: "recv returned \(waited.0)\(waited.0 == -1 ? " (\(errnoName(waited.1)))" : "") after \(Int(took * 1000)) ms", hint: .bothTimeouts)
            }
        }
    }

    // Row 23: non-blocking mode is one flag among others, set and cleared as asked; EAGAIN
    // is "nothing yet"; what has arrived comes out at most maxSize at a time, every byte once.
    func test4_nonBlockingReceiveSaysNothingYet() throws {
        try grade {
            try checkSetBlocking()
            try checkReceiveIfReady()
        }
    }

    private func checkSetBlocking() throws {
        let probe = Probe("setBlocking(_:_:) turns O_NONBLOCK on and off, keeps the descriptor's other flags, and asking twice for the same mode changes nothing")
        let socket = try HarnessSocket.make()
        let fd = socket.fd
        let extra = O_APPEND | (probe.random.pick([true, false]) ? O_ASYNC : 0)
        guard fcntl(fd, F_SETFL, OptionsLesson.flags(fd) | extra) == 0 else { throw SocketError(call: "fcntl") }
        let base = OptionsLesson.flags(fd) & ~O_NONBLOCK
        let extraNames = [(O_APPEND, "O_APPEND"), (O_ASYNC, "O_ASYNC")].filter { extra & $0.0 != 0 }.map(\.1).joined(separator: " and ")
        probe.transcript.note("the harness turned \(extraNames) on first: the socket's flags were \(OptionsLesson.describeFlags(base))")
        let sequence = [false, false, true, true]
        for (step, blocking) in sequence.enumerated() {
            let before = OptionsLesson.flags(fd)
            let expected = blocking ? base : base | O_NONBLOCK
            let stale = OptionsLesson.staleErrno(probe.random)
            let call = "setBlocking(_:\(blocking)) (call \(step + 1) of \(sequence.count))"
            try probe.call("\(call) with flags \(OptionsLesson.describeFlags(before))", errorHint: OptionsLesson.errorHint(stale: stale) { _ in .nonBlocking }) {
                errno = stale
                try setBlocking(fd, blocking)
            }
            let after = OptionsLesson.flags(fd)
            guard after != expected else { continue }
            let wanted = !blocking
            let had = before & O_NONBLOCK != 0
            let got = after & O_NONBLOCK != 0
            let hint: Hint
            if got == wanted || after & ~O_NONBLOCK != before & ~O_NONBLOCK {
                hint = OptionsHints.keepFlags
            } else if had == wanted {
                hint = OptionsHints.blockingToggle
            } else {
                hint = try setBlockingIsInverted(probe) ? OptionsHints.blockingInverted : .nonBlocking
            }
            throw probe.fail(
                expected: "after \(call): flags \(OptionsLesson.describeFlags(expected)), O_NONBLOCK \(wanted ? "on" : "off") and the rest as they were",
                actual: "flags \(OptionsLesson.describeFlags(after)) (before the call: \(OptionsLesson.describeFlags(before)))", hint: hint)
        }
    }

    /// True when setBlocking(_:true) turns O_NONBLOCK on: tried on a scratch socket.
    private func setBlockingIsInverted(_ probe: Probe) throws -> Bool {
        let scratch = try HarnessSocket.make()
        let fd = scratch.fd
        _ = try probe.attempt("setBlocking(_:true) on a new (blocking) socket, to see what it does") { try setBlocking(fd, true) }
        return OptionsLesson.flags(fd) & O_NONBLOCK != 0
    }

    private func checkReceiveIfReady() throws {
        let probe = Probe("receiveIfReady(_:maxSize:) on a non-blocking socket: nil at once while nothing has arrived, at most maxSize bytes of what has, every byte once and in order, then [] at end-of-file")
        let random = probe.random
        let link = try DrivenConnection.accepted(probe)
        defer { link.finish() }
        let fd = link.fd
        guard fcntl(fd, F_SETFL, OptionsLesson.flags(fd) | O_NONBLOCK) == 0 else { throw SocketError(call: "fcntl") }
        link.note("the harness made your socket non-blocking (O_NONBLOCK)")
        let unblock: @Sendable () -> Void = { _ = LibC.shutdown(fd, ShutdownHow.both) }

        // Nothing has arrived: nil, at once.
        let nothing = try probe.measure(
            "receiveIfReady(_:maxSize: 64) with nothing sent yet", seconds: 1, unblock: unblock, blockedHint: OptionsHints.waits
        ) { try receiveIfReady(fd, maxSize: 64) }
        switch nothing.result {
        case .failure(let error):
            throw probe.fail(expected: "nil: nothing has arrived yet", actual: "it threw \(error)", hint: .eagain)
        case .success(let bytes?):
            throw probe.fail(
                expected: "nil: nothing has arrived yet", actual: bytes.isEmpty ? "[] (which means end-of-file)" : escaped(bytes),
                hint: bytes.isEmpty ? OptionsHints.recvZero : OptionsHints.countReturned)
        case .success(nil):
            guard nothing.seconds < 0.3 else {
                throw probe.fail(expected: "nil at once", actual: "nil after \(Int(nothing.seconds * 1000)) ms", hint: OptionsHints.waits)
            }
        }

        // More than maxSize has arrived: maxSize at a time, in order, errno holding EAGAIN before.
        for maxSize in [1, random.int(in: 2...200)] {
            try receiveInPieces(probe, link, maxSize: maxSize)
        }

        // A large amount, with maxSize past 65,535: every byte, in order, none past maxSize.
        let bigMax = random.int(in: 65_537...100_000)
        let big = random.bytes(random.int(in: (bigMax + 1)...(2 * bigMax)))
        let sender = Thread { try? link.send(big) }
        sender.start()
        var bigReceived: [UInt8] = []
        let deadline = Clock.now + 3
        var calls = 0
        while bigReceived.count < big.count, Clock.now < deadline, calls < 400 {
            guard Inspect.waitReadable(fd, seconds: max(0, deadline - Clock.now)) else { break }
            calls += 1
            let got = try probe.call("receiveIfReady(_:maxSize: \(bigMax)) while \(big.count) bytes arrive (call \(calls), \(bigReceived.count) bytes so far)", errorHint: { _ in OptionsHints.otherErrors }) {
                try receiveIfReady(fd, maxSize: bigMax)
            }
            guard let got else { continue }
            guard !got.isEmpty, got.count <= bigMax else {
                throw probe.fail(
                    expected: "between 1 and \(bigMax) bytes (the socket was readable)", actual: got.isEmpty ? "[] (which means end-of-file)" : "\(got.count) bytes",
                    hint: got.isEmpty ? OptionsHints.recvZero : OptionsHints.maxSize)
            }
            bigReceived += got
        }
        guard bigReceived == big else {
            throw probe.fail(
                expected: "\(big.count) bytes, as sent", actual: difference(expected: big, actual: bigReceived) ?? "\(bigReceived.count) bytes",
                hint: bigReceived.count > big.count ? OptionsHints.countReturned : OptionsHints.maxSize)
        }

        // End-of-file: [].
        link.close()
        guard Inspect.waitReadable(fd, seconds: 2) else { throw SocketError(call: "poll", code: ETIMEDOUT) }
        let end = try probe.call("receiveIfReady(_:maxSize: 64) after the peer closed", errorHint: { _ in OptionsHints.recvZero }) {
            try receiveIfReady(fd, maxSize: 64)
        }
        guard end == [] else {
            throw probe.fail(expected: "[]: end-of-file", actual: end.map { escaped($0) } ?? "nil (as if nothing had arrived yet)", hint: OptionsHints.recvZero)
        }
    }

    /// Sends more than `maxSize` bytes and has receiveIfReady take them, at most `maxSize` at a
    /// time, with a stale EAGAIN in errno before every call; then nil once all are read.
    private func receiveInPieces(_ probe: Probe, _ link: DrivenConnection, maxSize: Int) throws {
        let fd = link.fd
        let payload = probe.random.bytes(probe.random.int(in: (maxSize + 1)...(3 * maxSize)))
        try link.send(payload)
        guard OptionsLesson.waitQueued(fd, count: payload.count, seconds: 2) else { throw SocketError(call: "recv", code: ETIMEDOUT) }
        var received: [UInt8] = []
        for call in 1...(payload.count + 1) {
            let waiting = payload.count - received.count
            let function = "receiveIfReady(_:maxSize: \(maxSize)) with \(waiting) bytes waiting (call \(call); errno held EAGAIN before it)"
            let got = try probe.call(function, errorHint: { _ in OptionsHints.otherErrors }) {
                errno = EAGAIN
                return try receiveIfReady(fd, maxSize: maxSize)
            }
            guard let got, !got.isEmpty else {
                throw probe.fail(
                    expected: "\(min(maxSize, waiting)) bytes", actual: got == nil ? "nil (as if nothing had arrived)" : "[] (which means end-of-file)",
                    hint: got == nil ? OptionsHints.staleErrno : OptionsHints.recvZero)
            }
            let want = Array(payload[received.count..<(received.count + min(maxSize, waiting))])
            guard got == want else {
                throw probe.fail(
                    expected: "\(want.count) bytes (all that had arrived, up to maxSize \(maxSize)): \(escaped(want))",
                    actual: "\(got.count) bytes: \(escaped(got))",
                    // More than maxSize: the buffer was not maxSize. More than had arrived (within
                    // maxSize): bytes past recv's count. Fewer: not all of what was there.
                    hint: got.count > maxSize || got.count < want.count ? OptionsHints.maxSize : OptionsHints.countReturned)
            }
            received += got
            if received.count == payload.count { break }
        }
        let drained = try probe.call("receiveIfReady(_:maxSize: \(maxSize)) once everything was read", errorHint: { _ in .eagain }) {
            try receiveIfReady(fd, maxSize: maxSize)
        }
        guard drained == nil else {
            throw probe.fail(expected: "nil: nothing more has arrived", actual: drained!.isEmpty ? "[] (which means end-of-file)" : escaped(drained!), hint: drained!.isEmpty ? OptionsHints.recvZero : OptionsHints.countReturned)
        }
    }

    // SO_ERROR, SO_ACCEPTCONN and getpeername tell what the kernel knows, on IPv4 addresses
    // drawn from 127.0.0.0/8 and on ::1.
    func test5_questionsAboutASocket() throws {
        try grade {
            try checkPendingError()
            try checkIsListening()
            try checkPeerAddress()
        }
    }

    private func checkPendingError() throws {
        let probe = Probe("pendingError(_:) reads SO_ERROR: ECONNREFUSED after a refused connect, ECONNRESET after a reset, each once (reading clears it), and 0 on a healthy connection")
        let host = OptionsLesson.loopbackIPv4(probe.random)
        let closed = try OptionsLesson.closedPort(host: host)
        let refused = try HarnessSocket.make()
        guard fcntl(refused.fd, F_SETFL, OptionsLesson.flags(refused.fd) | O_NONBLOCK) == 0 else { throw SocketError(call: "fcntl") }
        _ = try closed.address.withSockAddr { connect(refused.fd, $0, $1) }
        _ = Inspect.waitWritable(refused.fd, seconds: 2)
        probe.transcript.note("a non-blocking connect from a harness socket to \(closed.address), where nothing listens, was refused")
        let link = try DrivenConnection.accepted(probe, host: host)
        defer { link.finish() }
        let cases: [(String, Int32, () throws -> Void)] = [
            ("on a socket whose connect to \(closed.address) was refused", refused.fd, {}),
            ("on a healthy connection", link.fd, {}),
            ("on a connection the peer reset", link.fd, {
                try link.reset()
                _ = Inspect.waitReadable(link.fd, seconds: 2)
            }),
        ]
        let expected: [Int32] = [ECONNREFUSED, 0, ECONNRESET]
        for ((situation, fd, prepare), want) in zip(cases, expected) {
            try prepare()
            for attempt in want == 0 ? [0] : [want, 0] {
                let stale = OptionsLesson.staleErrno(probe.random)
                let function = "pendingError(_:) \(situation)\(want != 0 && attempt == 0 ? ", read a second time" : "")"
                let value = try probe.call(function, errorHint: OptionsLesson.errorHint(stale: stale) { _ in .soError }) {
                    errno = stale
                    return try pendingError(fd)
                }
                guard value == attempt else {
                    throw probe.fail(
                        expected: attempt == 0 ? "0 (\(want == 0 ? "no error" : "reading SO_ERROR cleared it"))" : "\(errnoName(attempt))",
                        actual: "\(value == 0 ? "0" : errnoName(value))", hint: value == stale && stale != 0 ? OptionsHints.staleErrno : .soError)
                }
            }
        }
    }

    private func checkIsListening() throws {
        let probe = Probe("isListening(_:) reads SO_ACCEPTCONN: true for listeners (IPv4 and IPv6), false for new, bound, connected, accepted and UDP sockets")
        let host = OptionsLesson.loopbackIPv4(probe.random)
        let listener4 = try HarnessSocket.listener(host: host)
        let listener6 = try HarnessSocket.listener(host: "::1")
        let plain = try HarnessSocket.make()
        let bound = try OptionsLesson.closedPort(host: host)
        let udp = try HarnessSocket.udp(host: host)
        let link = try DrivenConnection.connected(probe, host: host)
        defer { link.finish() }
        let cases: [(String, Int32, Bool)] = [
            ("a listener on \(try listener4.localAddress)", listener4.fd, true),
            ("a new TCP socket", plain.fd, false),
            ("a listener on \(try listener6.localAddress)", listener6.fd, true),
            ("a TCP socket bound to \(bound.address) that never listened", bound.holder.fd, false),
            ("a connected TCP socket", link.fd, false),
            ("the socket accept() returned for that connection", link.harness.fd, false),
            ("a UDP socket bound to \(try udp.localAddress)", udp.fd, false),
        ]
        for (what, fd, expected) in cases {
            let stale = OptionsLesson.staleErrno(probe.random)
            let answer = try probe.call("isListening(_:) on \(what)", errorHint: OptionsLesson.errorHint(stale: stale) { _ in OptionsHints.acceptConn }) {
                errno = stale
                return try isListening(fd)
            }
            guard answer == expected else {
                throw probe.fail(expected: "\(expected) for \(what)", actual: "\(answer)", hint: OptionsHints.acceptConn)
            }
        }
    }

    private func checkPeerAddress() throws {
        let probe = Probe("peerAddress(of:) returns the other end's address (getpeername), for 127.x.y.z addresses and ::1, from either side of a connection")
        let serverHost = OptionsLesson.loopbackIPv4(probe.random)
        let clientHost = OptionsLesson.loopbackIPv4(probe.random)
        let outgoing = try DrivenConnection.connected(probe, host: serverHost, clientHost: clientHost)
        defer { outgoing.finish() }
        let incoming = try DrivenConnection.accepted(probe, host: serverHost, clientHost: clientHost)
        defer { incoming.finish() }
        let ipv6 = try DrivenConnection.connected(probe, host: "::1")
        defer { ipv6.finish() }
        let cases = [("a socket that connected to \(outgoing.harnessAddress)", outgoing),
                     ("a socket accepted from \(incoming.harnessAddress)", incoming),
                     ("a socket that connected to \(ipv6.harnessAddress)", ipv6)]
        for (what, link) in cases {
            let stale = OptionsLesson.staleErrno(probe.random)
            let fd = link.fd
            let isIPv6 = link.harnessAddress.family == .inet6
            let peer = try probe.call("peerAddress(of:) on \(what)", errorHint: OptionsLesson.errorHint(stale: stale) { _ in
                isIPv6 ? OptionsHints.peerStorage : OptionsHints.getpeername
            }) {
                errno = stale
                return try peerAddress(of: fd)
            }
            guard peer == link.harnessAddress else {
                let hint: Hint
                if peer == link.learnerAddress {
                    hint = OptionsHints.getpeername
                } else if peer.host == link.harnessAddress.host, peer.port == link.harnessAddress.port?.byteSwapped {
                    hint = OptionsHints.peerByteOrder
                } else {
                    hint = isIPv6 ? OptionsHints.peerStorage : OptionsHints.getpeername
                }
                throw probe.fail(expected: "\(link.harnessAddress) (this socket itself is \(link.learnerAddress))", actual: "\(peer)", hint: hint)
            }
        }
    }

    // Rows 22, 26 and 3: SO_REUSEADDR before bind, on 127.x.y.z and ::1, with the backlog
    // given; every way it can fail leaves nothing open.
    func test6_reusableListenerRestartsOnItsPort() throws {
        try grade {
            let random = GradingSeed.generator(for: "makeReusableListener hosts")
            var backlog = Int32(random.int(in: 1...60))
            if backlog == 16 { backlog = 17 }
            for (host, asked) in [(OptionsLesson.loopbackIPv4(random), Optional(backlog)), ("::1", nil)] {
                let address = OptionsLesson.address(host)
                let arguments = "on: \(address)" + (asked.map { ", backlog: \($0)" } ?? "")
                let probe = Probe("makeReusableListener(\(arguments)) listens there with SO_REUSEADDR and backlog \(asked ?? 16), and listens again on that port while it is in TIME_WAIT")
                let stale = OptionsLesson.staleErrno(probe.random)
                let first = try probe.call(
                    "makeReusableListener(\(arguments))", returns: { [$0] },
                    errorHint: OptionsLesson.errorHint(stale: stale) { Self.listenerErrorHint($0) }
                ) {
                    errno = stale
                    if let asked { return try makeReusableListener(on: address, backlog: asked) }
                    return try makeReusableListener(on: address)
                }
                if let problem = Self.listenerProblem(first, host: host, port: nil, backlog: asked ?? 16) {
                    let description = Inspect.describe(first)
                    closeIfOpen(first)
                    throw probe.fail(expected: problem.expected, actual: "\(description)\(problem.actual)", hint: problem.hint)
                }
                let bound = try Inspect.localAddress(first)
                try leaveInTimeWait(first, at: bound, probe: probe)
                let again = "makeReusableListener(on: \(bound)" + (asked.map { ", backlog: \($0))" } ?? ")") + " again"
                let outcome = try probe.attempt(again, returns: { [$0] }) {
                    errno = stale
                    if let asked { return try makeReusableListener(on: bound, backlog: asked) }
                    return try makeReusableListener(on: bound)
                }
                switch outcome {
                case .success(let second):
                    defer { closeIfOpen(second) }
                    if let problem = Self.listenerProblem(second, host: host, port: bound.port, backlog: asked ?? 16) {
                        throw probe.fail(expected: problem.expected, actual: "\(Inspect.describe(second))\(problem.actual)", hint: problem.hint)
                    }
                case .failure(let error):
                    let hint = (error as? SocketError)?.code == stale ? OptionsHints.staleErrno : Hint.reuseAddress
                    throw probe.fail(expected: "a new listener on \(bound)", actual: "it threw \(error)", hint: hint)
                }
            }
            try checkListenerFailures()
        }
    }

    private func checkListenerFailures() throws {
        let probe = Probe("makeReusableListener(on:backlog:) throws when it cannot listen (port taken, address not on this machine, host that does not parse, no descriptors left) and leaves nothing open")
        let random = probe.random
        let function = "makeReusableListener(on:backlog:)"
        let taken = try HarnessSocket.listener(host: OptionsLesson.loopbackIPv4(random))
        let takenAddress = try taken.localAddress
        let busy = try probe.attempt("makeReusableListener(on: \(takenAddress)), a port a harness listener holds", returns: { [$0] }) {
            try makeReusableListener(on: takenAddress)
        }
        try expectSocketError(busy, call: "bind", code: EADDRINUSE, probe: probe, function: function)

        let foreign: SocketAddress = random.pick([true, false])
            ? .ipv4(host: "192.0.2.\(random.int(in: 1...254))", port: 0) : .ipv6(host: "2001:db8::\(String(random.int(in: 1...0xfffe), radix: 16))", port: 0)
        let notHere = try probe.attempt("makeReusableListener(on: \(foreign)), an address of no interface here", returns: { [$0] }) {
            try makeReusableListener(on: foreign)
        }
        try expectSocketError(notHere, call: "bind", code: EADDRNOTAVAIL, probe: probe, function: function)

        let garbled: SocketAddress = random.pick([
            .ipv4(host: "127.0.0.\(random.int(in: 256...999))", port: 0), .ipv4(host: "localhost", port: 0),
            .ipv4(host: "::1", port: 0), .ipv6(host: "::1::\(random.int(in: 2...9))", port: 0),
        ])
        let unparsed = try probe.attempt("makeReusableListener(on: \(garbled)), a host that is not a numeric address of its family", returns: { [$0] }) {
            try makeReusableListener(on: garbled)
        }
        if case .success(let fd) = unparsed {
            let description = Inspect.describe(fd)
            closeIfOpen(fd)
            throw probe.fail(expected: "\(function) to throw", actual: "it returned \(description)", hint: .uncheckedResult("bind"))
        }

        let anywhere = OptionsLesson.address(OptionsLesson.loopbackIPv4(random))
        let full = try probe.attempt("makeReusableListener(on: \(anywhere)) with no descriptor left (EMFILE)", returns: { [$0] }) {
            try ErrorInputs.withDescriptorTableFull { try makeReusableListener(on: anywhere) }
        }
        try Self.expectDescriptorTableFull(full, probe: probe, function: function)
    }

    /// What is wrong with a listener the learner's code returned, if anything.
    static func listenerProblem(_ fd: Int32, host: String, port: UInt16?, backlog: Int32) -> (expected: String, actual: String, hint: Hint)? {
        let expected = "a TCP listener on \(host)" + (port.map { ":\($0)" } ?? "") + " with SO_REUSEADDR on and backlog \(backlog)"
        guard Inspect.isOpen(fd), Inspect.isSocket(fd) else { return (expected, "", OptionsHints.returnedClosed) }
        guard (try? Inspect.type(fd)) == .stream, let family = try? Inspect.family(fd), family == OptionsLesson.address(host).family else {
            return (expected, "", .addressFamily)
        }
        guard (try? Inspect.isListening(fd)) == true else { return (expected, " (SO_ACCEPTCONN reads 0)", .notListening) }
        guard let local = try? Inspect.localAddress(fd), local.host == host, port == nil || local.port == port else {
            return (expected, "", OptionsHints.bindAddress)
        }
        guard (try? Inspect.intOption(fd, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR")) == 1 else {
            #if os(Linux)
            let reusePort = (try? Inspect.intOption(fd, SOL_SOCKET, 15, "SO_REUSEPORT")) == 1
            #else
            let reusePort = false
            #endif
            return (expected, "; SO_REUSEADDR reads back 0" + (reusePort ? ", SO_REUSEPORT 1" : ""), reusePort ? OptionsHints.reusePort : .reuseAddress)
        }
        #if os(Linux)
        if (try? Inspect.intOption(fd, SOL_SOCKET, 15, "SO_REUSEPORT")) == 1 {
            return (expected, "; SO_REUSEPORT reads back 1 as well (another socket could take a share of this port)", OptionsHints.reusePort)
        }
        #endif
        if let actual = OptionsLesson.backlog(of: fd), actual != backlog {
            return (expected, "; its backlog reads back \(actual) (TCP_INFO)", OptionsHints.listenerBacklog)
        }
        return nil
    }

    /// socket() failed with EMFILE: that error must come out. EBADF instead means the -1 was
    /// used as a descriptor.
    static func expectDescriptorTableFull(_ outcome: Result<Int32, any Error>, probe: Probe, function: String) throws {
        if case .failure(let error as SocketError) = outcome, error.code == EBADF {
            throw probe.fail(expected: "\(function) to throw SocketError with EMFILE from socket()", actual: "it threw \(error)", hint: .uncheckedResult("socket"))
        }
        try expectSocketError(outcome, call: nil, code: EMFILE, probe: probe, function: function)
    }

    static func listenerErrorHint(_ error: any Error) -> Hint {
        switch (error as? SocketError)?.code {
        case EAFNOSUPPORT, EINVAL: return .addressFamily
        case EADDRNOTAVAIL: return OptionsHints.bindAddress
        case EADDRINUSE: return .reuseAddress
        default: return .notListening
        }
    }

    // Rows 24, 3 and 26: connect with a timeout: refused at once, timed out on time without
    // spinning, connected (127.x.y.z and ::1) and blocking; nothing left open on any failure.
    func test7_connectWithATimeout() throws {
        try grade {
            let refusedProbe = Probe("openConnection(to:timeout:) to a closed port throws ECONNREFUSED (read from SO_ERROR) at once, and leaves nothing open")
            for host in [OptionsLesson.loopbackIPv4(refusedProbe.random), "::1"] {
                let closed = try OptionsLesson.closedPort(host: host)
                let limit = Double(refusedProbe.random.int(in: 10...16)) / 10
                let stale = OptionsLesson.staleErrno(refusedProbe.random)
                let refused = try refusedProbe.measure(
                    "openConnection(to: \(closed.address), timeout: \(limit))", returns: { [$0] }, seconds: limit + 1.5,
                    blockedHint: OptionsHints.refusedPromptly, spinningHint: OptionsHints.connectSpin
                ) {
                    errno = stale
                    return try openConnection(to: closed.address, timeout: limit)
                }
                if case .failure = refused.result, refused.seconds >= 0.5 {
                    throw refusedProbe.fail(
                        expected: "ECONNREFUSED at once (the refusal comes back in well under a millisecond on loopback)",
                        actual: "it threw after \(Int(refused.seconds * 1000)) ms (the timeout was \(limit) s)", hint: OptionsHints.refusedPromptly)
                }
                if case .failure(let error as SocketError) = refused.result, error.code == EINPROGRESS || error.code == stale {
                    // errno, not SO_ERROR: connect's own EINPROGRESS (or an older errno) is still there.
                    throw refusedProbe.fail(
                        expected: "openConnection(to:timeout:) to throw SocketError with ECONNREFUSED from connect(), the value SO_ERROR holds",
                        actual: "it threw \(error)", hint: .soError)
                }
                try expectSocketError(refused.result, call: "connect", code: ECONNREFUSED, probe: refusedProbe, function: "openConnection(to:timeout:)", returnedHint: { _ in .soError })
            }

            let slowProbe = Probe("openConnection(to:timeout:) to a server that never answers throws ETIMEDOUT after the timeout given (a fraction of a second), without spinning, and leaves no connect behind")
            // A listener with a backlog of 0 and one waiting connection: the kernel drops the
            // next handshake, so that connect neither succeeds nor is refused.
            let full = try HarnessSocket.listener(host: OptionsLesson.loopbackIPv4(slowProbe.random), backlog: 0)
            let fullAddress = try full.localAddress
            let filler = try HarnessSocket.connect(to: fullAddress)
            defer { filler.close() }
            slowProbe.transcript.note("the harness listener on \(fullAddress) has backlog 0 and one connection already waiting: it answers no new handshake")
            let limit = Double(slowProbe.random.int(in: 15...35)) / 100
            let stale = OptionsLesson.staleErrno(slowProbe.random)
            let sleeps = OptionsSleeps()
            let timedOut = try slowProbe.measure(
                "openConnection(to: \(fullAddress), timeout: \(limit))", returns: { [$0] }, seconds: limit + 2,
                blockedHint: .connectTimeout, spinningHint: OptionsHints.connectSpin
            ) {
                try sleeps.count {
                    errno = stale
                    return try openConnection(to: fullAddress, timeout: limit)
                }
            }
            if case .failure(let error as SocketError) = timedOut.result, error.code == EINPROGRESS || error.code == stale {
                // poll returning 0 sets no errno: what is left there is connect's EINPROGRESS.
                throw slowProbe.fail(
                    expected: "openConnection(to:timeout:) to throw SocketError with ETIMEDOUT from connect()",
                    actual: "it threw \(error)", hint: OptionsHints.timedOutCode)
            }
            try expectSocketError(timedOut.result, call: "connect", code: ETIMEDOUT, probe: slowProbe, function: "openConnection(to:timeout:)", returnedHint: { _ in .connectTimeout })
            guard timedOut.seconds >= limit * 0.7, timedOut.seconds < limit + 0.5 else {
                throw slowProbe.fail(
                    expected: "ETIMEDOUT after about \(Int(limit * 1000)) ms",
                    actual: "ETIMEDOUT after \(Int(timedOut.seconds * 1000)) ms (\(timedOut.seconds < limit ? "too soon" : "too late"))", hint: OptionsHints.pollMilliseconds)
            }
            // A thread that waits in poll uses well under a millisecond of processor time; one
            // that spins uses all it gets, and even on a crowded machine that is tens of ms.
            // A thread that waits in poll uses well under a millisecond of processor time and
            // sleeps at least once; one that spins uses all it gets (tens of ms even on a crowded
            // machine) and never sleeps.
            let neverSlept = sleeps.value == 0
            guard timedOut.cpuSeconds < 0.015 + timedOut.seconds * 0.05, !neverSlept else {
                throw slowProbe.fail(
                    expected: "a wait that sleeps (in poll) until the time is up",
                    actual: "the call used \(Int(timedOut.cpuSeconds * 1000)) ms of processor time in \(Int(timedOut.seconds * 1000)) ms"
                        + (neverSlept ? ", and its thread never went to sleep" : ""),
                    hint: OptionsHints.connectSpin)
            }
            let lingering = OptionsLesson.connectsInProgress(toPort: fullAddress.port ?? 0)
            guard lingering == 0 else {
                throw slowProbe.fail(expected: "no connect still under way to \(fullAddress)", actual: "\(lingering) socket(s) still in SYN_SENT to it", hint: OptionsHints.halfOpen)
            }

            let okProbe = Probe("openConnection(to:timeout:) connects to 127.x.y.z and to ::1, and hands back a blocking socket connected there")
            for host in [OptionsLesson.loopbackIPv4(okProbe.random), "::1"] {
                let (server, address) = try Peer.server("server", host: host, transcript: okProbe.transcript, script: [.receiveUntilClosed(seconds: 2)])
                defer { server.stop() }
                let stale = OptionsLesson.staleErrno(okProbe.random)
                let fd = try okProbe.call("openConnection(to: \(address), timeout: 1)", returns: { [$0] }, errorHint: OptionsLesson.errorHint(stale: stale) { error in
                    switch (error as? SocketError)?.code {
                    case EAFNOSUPPORT, EINVAL: return .addressFamily
                    case ETIMEDOUT: return OptionsHints.pollOut  // the server accepted at once: nothing to wait for but writability
                    default: return .soError
                    }
                }) {
                    errno = stale
                    return try openConnection(to: address, timeout: 1)
                }
                defer { closeIfOpen(fd) }
                guard Inspect.isSocket(fd), (try? Inspect.type(fd)) == .stream, (try? Inspect.peerAddress(fd)) == address else {
                    let family = try? Inspect.family(fd)
                    throw okProbe.fail(
                        expected: "a TCP socket connected to \(address)", actual: Inspect.describe(fd),
                        hint: !Inspect.isOpen(fd) ? OptionsHints.returnedClosed
                            : family != nil && family != address.family ? .addressFamily : OptionsHints.connectedElsewhere)
                }
                guard fcntl(fd, F_GETFL) & O_NONBLOCK == 0 else {
                    throw okProbe.fail(expected: "a blocking socket", actual: "O_NONBLOCK is still set", hint: .restoreBlocking)
                }
                let leftover = (try OptionsLesson.timeoutOption(fd, SO_RCVTIMEO), try OptionsLesson.timeoutOption(fd, SO_SNDTIMEO))
                guard leftover == (0, 0) else {
                    throw okProbe.fail(
                        expected: "a plain blocking socket: no SO_RCVTIMEO or SO_SNDTIMEO left from the connect",
                        actual: "SO_RCVTIMEO \(leftover.0) s, SO_SNDTIMEO \(leftover.1) s", hint: OptionsHints.leftoverTimeout)
                }
            }

            let failProbe = Probe("openConnection(to:timeout:) throws for a host that does not parse and when no descriptor is left (EMFILE), and leaves nothing open")
            let garbled: SocketAddress = failProbe.random.pick([
                .ipv4(host: "127.0.0.\(failProbe.random.int(in: 256...999))", port: 80), .ipv4(host: "localhost", port: 80),
                .ipv4(host: "::1", port: 80), .ipv6(host: "::1::\(failProbe.random.int(in: 2...9))", port: 80),
            ])
            let unparsed = try failProbe.attempt("openConnection(to: \(garbled), timeout: 1)", returns: { [$0] }) {
                try openConnection(to: garbled, timeout: 1)
            }
            if case .success(let fd) = unparsed {
                let description = Inspect.describe(fd)
                closeIfOpen(fd)
                throw failProbe.fail(expected: "openConnection(to:timeout:) to throw", actual: "it returned \(description)", hint: .uncheckedResult("connect"))
            }
            let closed = try OptionsLesson.closedPort(host: OptionsLesson.loopbackIPv4(failProbe.random))
            let full2 = try failProbe.attempt("openConnection(to: \(closed.address), timeout: 1) with no descriptor left (EMFILE)", returns: { [$0] }) {
                try ErrorInputs.withDescriptorTableFull { try openConnection(to: closed.address, timeout: 1) }
            }
            try Self.expectDescriptorTableFull(full2, probe: failProbe, function: "openConnection(to:timeout:)")
        }
    }

    // Row 25: with TCP_NODELAY, a request written in two pieces gets its answer at once;
    // without it, Nagle's algorithm and the peer's delayed ACK add about 40 ms each time.
    func test8_noDelayMakesSmallRequestsFast() throws {
        try grade {
            let probe = Probe("after setNoDelay(_:true), 8 write-write-read round trips take under 20 ms each (median)")
            let rounds = 8
            let (server, address) = try Peer.server(
                "server", transcript: probe.transcript,
                script: Array(repeating: [PeerStep.receive(count: 10, seconds: 2), .send(Array("ok".utf8))], count: rounds).flatMap { $0 })
            defer { server.stop() }
            let client = try HarnessSocket.connect(to: address)
            let fd = client.fd
            try probe.call("setNoDelay(_:true)", errorHint: { Self.setterErrorHint($0, family: .inet, level: Int32(IPPROTO_TCP), name: TCP_NODELAY) }) {
                try setNoDelay(fd, true)
            }
            var times: [Double] = []
            for _ in 0..<rounds {
                let started = Clock.now
                try client.sendAll(Array("head!".utf8))
                try client.sendAll(Array("body!".utf8))
                guard try client.receive(limit: 2, seconds: 2)?.count == 2 else { throw SocketError(call: "recv", code: ETIMEDOUT) }
                times.append((Clock.now - started) * 1000)
            }
            let median = times.sorted()[rounds / 2]
            guard median < 20 else {
                throw probe.fail(
                    expected: "round trips well under 20 ms (a millisecond or less on loopback)",
                    actual: "median \(Int(median)) ms; each: \(times.map { "\(Int($0))" }.joined(separator: ", ")) ms",
                    hint: .nagle)
            }
        }
    }

    // Rule 1: every function that takes a descriptor reports a bad one as an error: -1, a
    // closed descriptor whose number comes from the seed, a pipe (not a socket), and for
    // the connection questions a socket that is not connected.
    func test9_badDescriptorsAreErrors() throws {
        try grade {
            enum Input: String { case minusOne = "fd -1", closed = "a closed descriptor", pipe = "a pipe", unconnected = "an unconnected socket", listener = "a listener" }
            typealias Call = @Sendable (Int32) throws -> any Sendable
            let functions: [(String, String, [Input], Call)] = [
                ("setReuseAddress(_:true)", "setsockopt", [.minusOne, .closed, .pipe], { try setReuseAddress($0, true) }),
                ("setKeepAlive(_:true)", "setsockopt", [.minusOne, .closed, .pipe], { try setKeepAlive($0, true) }),
                ("setNoDelay(_:true)", "setsockopt", [.minusOne, .closed, .pipe], { try setNoDelay($0, true) }),
                ("setBufferSizes(_:receive: 65536, send: 65536)", "setsockopt", [.minusOne, .closed, .pipe], { try setBufferSizes($0, receive: 65536, send: 65536) }),
                ("setTimeout(_:0.5)", "setsockopt", [.minusOne, .closed, .pipe], { try setTimeout($0, 0.5) }),
                ("timeout(of:)", "getsockopt", [.minusOne, .closed, .pipe], { try timeout(of: $0) }),
                ("setBlocking(_:false)", "fcntl", [.minusOne, .closed], { try setBlocking($0, false) }),
                ("receiveIfReady(_:maxSize: 64)", "recv", [.closed, .unconnected], { try receiveIfReady($0, maxSize: 64) }),
                ("pendingError(_:)", "getsockopt", [.minusOne, .closed, .pipe], { try pendingError($0) }),
                ("isListening(_:)", "getsockopt", [.minusOne, .closed, .pipe], { try isListening($0) }),
                ("peerAddress(of:)", "getpeername", [.minusOne, .closed, .pipe, .unconnected, .listener], { try peerAddress(of: $0) }),
            ]
            for (function, call, inputs, body) in functions {
                let probe = Probe("\(function) throws SocketError for a descriptor it cannot use (\(inputs.map(\.rawValue).joined(separator: ", ")))")
                for input in inputs {
                    let run = { (fd: Int32, what: String, code: Int32) throws in
                        let outcome = try probe.attempt("\(function) on \(what)") { try body(fd) }
                        try expectSocketError(
                            outcome.map { OptionsReturned($0) }, call: nil, code: code, probe: probe, function: "\(function) on \(what)",
                            returnedHint: { _ in call == "recv" ? OptionsHints.otherErrors : .uncheckedResult(call) })
                    }
                    switch input {
                    case .minusOne:
                        try run(-1, "fd -1", EBADF)
                    case .closed:
                        let fd = ErrorInputs.closedDescriptor(probe.random)
                        try run(fd, "fd \(fd), which is not open", EBADF)
                    case .pipe:
                        try ErrorInputs.withPipe { fd in try run(fd, "fd \(fd), the read end of a pipe (not a socket)", ENOTSOCK) }
                    case .unconnected:
                        let socket = try HarnessSocket.make(probe.random.pick([.inet, .inet6]))
                        try run(socket.fd, "a TCP socket that never connected", ENOTCONN)
                    case .listener:
                        let listener = try HarnessSocket.listener(host: OptionsLesson.loopbackIPv4(probe.random))
                        try run(listener.fd, "a listening socket (it has no peer)", ENOTCONN)
                    }
                }
            }
        }
    }

    /// The hint for an error a setter threw where it should have succeeded, from the errno it
    /// carries: the one a wrong level gives (compared with the same call made by the harness),
    /// or a wrong value or size.
    static func setterErrorHint(_ error: any Error, family: AddressFamily, level: Int32, name: Int32) -> Hint {
        guard let error = error as? SocketError else { return .optionValue }
        if [ENOPROTOOPT, EACCES, EPERM].contains(error.code) { return .optionLevel }
        let otherLevel = level == SOL_SOCKET ? Int32(IPPROTO_TCP) : SOL_SOCKET
        if error.code != EINVAL, error.code == OptionsLesson.setsockoptOutcome(family: family, level: otherLevel, name: name) {
            return .optionLevel
        }
        return .optionValue
    }
}

/// What a learner's call returned, described for a failure message without keeping the value
/// (an Int32 result must not be taken for a descriptor and closed).
struct OptionsReturned: CustomStringConvertible, Sendable {
    let description: String
    init(_ value: any Sendable) {
        description = value is Void ? "without throwing" : "\(value)"
    }
}

extension Hint {
    static let optionLevel = Hint("option-level", "Each option lives at one level: SO_* options at SOL_SOCKET, TCP_* options such as TCP_NODELAY at IPPROTO_TCP. On the wrong level the same number names another option (on Linux, SOL_SOCKET option 1 is SO_DEBUG, IPPROTO_TCP option 2 is TCP_MAXSEG), so the call may fail, or succeed and change the wrong thing.")
    static let optionValue = Hint("option-value", "Pass 1 to turn an option on and 0 to turn it off, as an Int32 by pointer, with its size: setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)). Check the 0 / -1 it returns.")
    static let readBackSize = Hint("read-back-size", "The kernel does not take the size you ask for: Linux doubles it and clamps it between a minimum and a maximum. Read SO_RCVBUF and SO_SNDBUF back with getsockopt after setting them, and return those.")
    static let bothTimeouts = Hint("both-timeouts", "settimeout bounds both directions: set SO_RCVTIMEO and SO_SNDTIMEO. A receive timeout is what makes recv on a silent connection give up (with EAGAIN).")
    static let timeval = Hint("timeval", "A timeout is a timeval: whole seconds in tv_sec, the rest in microseconds in tv_usec (0.25 s is tv_sec 0, tv_usec 250000). All zeros means no timeout, which timeout(of:) reports as nil; reading back, seconds = tv_sec + tv_usec / 1,000,000 as a Double.")
    static let nonBlocking = Hint("non-blocking", "O_NONBLOCK is a flag of the descriptor, not a socket option: read the flags with fcntl(fd, F_GETFL), add or remove O_NONBLOCK, write them back with fcntl(fd, F_SETFL, flags), keeping the others.")
    static let eagain = Hint("eagain", "On a non-blocking socket, recv fails with EAGAIN (or EWOULDBLOCK) when nothing has arrived yet. That is not an error: return nil and let the caller try later.")
    static let soError = Hint("so-error", "After a non-blocking connect, poll saying \"writable\" only means the attempt has finished: it may have failed. Read SO_ERROR with getsockopt: 0 means connected, anything else is the reason (ECONNREFUSED...). Throw SocketError(call: \"connect\", code: thatError). pendingError returns the value getsockopt wrote, not getsockopt's own 0.")
    static let connectTimeout = Hint("connect-timeout", "A blocking connect to a peer that never answers waits for minutes. Make the socket non-blocking, call connect (EINPROGRESS), then poll for POLLOUT with your timeout; when poll returns 0, throw SocketError(call: \"connect\", code: ETIMEDOUT) and close the socket.")
    static let nagle = Hint("nagle", "Nagle's algorithm holds a small write back until the previous one is acknowledged, and the peer delays its ACK (about 40 ms) hoping to send it with an answer. For request/response with small writes, set TCP_NODELAY (level IPPROTO_TCP) to 1.")
    static let restoreBlocking = Hint("restore-blocking", "The non-blocking mode was only for the connect: set the socket back to blocking before you return it, or every later recv and send on it will fail with EAGAIN instead of waiting.")
}
