import Foundation
import GradingHarness
import SocketKit

// Helpers for the graders of lessons 1 and 2: learner calls run with a stale errno planted,
// their errors and leaks caught on the learner's own thread (so a check can name the mistake
// even when the call also leaked), error inputs that the learner cannot special-case, and
// a descriptor table made full in a way a deadline can undo.

extension StaleErrno {
    /// The errno values lessons 1 and 2 leave behind. Planted first thing on the learner's
    /// thread, one must not change what a call that succeeds does, and must not be what a
    /// call that fails reports. None of the calls lessons 1 and 2 make (nor a wrong
    /// getpeername, whose ENOTCONN must read as its own mistake) fails with these.
    static let firstLessons: [Int32] = [EINTR, EAGAIN, ETIMEDOUT, EHOSTUNREACH, ENOBUFS, EPIPE, ECONNRESET]
}

/// What one learner call did, seen from its own thread.
struct LearnerOutcome<Value: Sendable>: Sendable {
    let result: Result<Value, any Error>
    /// Sockets that appeared during the call and that it did not hand back.
    let leaked: [Int32]

    var value: Value? { try? result.get() }
    var error: (any Error)? {
        if case .failure(let error) = result { return error }
        return nil
    }
    var socketError: SocketError? { error as? SocketError }

    /// "it returned fd 5: ..." or "it threw bind failed: ...", for failure messages.
    var described: String {
        switch result {
        case .success(let value): return Probe.returned(value)
        case .failure(let error as SocketError): return "it threw \(error)"
        case .failure(let error): return "it threw \(type(of: error)): \(error)"
        }
    }
}

extension Probe {
    /// Calls learner code under the deadline, with `stale` planted in errno first (when
    /// given), and hands back what it did: its result or error, and the sockets it left open.
    /// Unlike `attempt`, a leak is not reported here: the check reports it with the mistake
    /// that caused it. `NotStarted` still ends the check as "not started"; a call that does
    /// not return in time fails the check (blocked or spinning, each with its hint).
    func run<Value: Sendable>(
        _ function: String,
        returns descriptors: @escaping @Sendable (Value) -> [Int32] = { _ in [] },
        seconds: Double = Deadline.standard,
        stale: StaleErrno?,
        unblock: @escaping @Sendable () -> Void = {},
        blockedHint: Hint? = nil,
        spinningHint: Hint? = nil,
        _ body: @escaping @Sendable () throws -> Value
    ) throws -> LearnerOutcome<Value> {
        try runMayBlock(
            function, returns: descriptors, seconds: seconds, stale: stale, toleratesBlocking: false, unblock: unblock,
            blockedHint: blockedHint, spinningHint: spinningHint, body)!
    }

    /// Like `run`, but a call still waiting in a system call (not spinning) when its time is
    /// up is tolerated: nil. For inputs where waiting is a correct answer's behaviour (poll
    /// ignores fd -1, so a poll-then-accept waits on it for ever).
    func runMayBlock<Value: Sendable>(
        _ function: String,
        returns descriptors: @escaping @Sendable (Value) -> [Int32] = { _ in [] },
        seconds: Double = Deadline.standard,
        stale: StaleErrno?,
        toleratesBlocking: Bool = true,
        unblock: @escaping @Sendable () -> Void = {},
        blockedHint: Hint? = nil,
        spinningHint: Hint? = nil,
        _ body: @escaping @Sendable () throws -> Value
    ) throws -> LearnerOutcome<Value>? {
        let measured: Deadline.Measured<LearnerOutcome<Value>>
        let watch = ThreadWatch()
        do {
            measured = try Deadline.measure(function, seconds: seconds, unblock: { watch.sample(); unblock() }) { () throws -> LearnerOutcome<Value> in
                watch.begin()
                let before = DescriptorCensus.take()
                stale?.plant()
                let result: Result<Value, any Error>
                do {
                    result = .success(try body())
                } catch let notStarted as NotStarted {
                    throw notStarted
                } catch {
                    result = .failure(error)
                }
                let handedBack = Set((try? result.get()).map(descriptors) ?? [])
                let leaked = DescriptorCensus.take().added(since: before).subtracting(handedBack)
                return LearnerOutcome(result: result, leaked: leaked.sorted())
            }
        } catch let blocked as CallBlocked {
            // The harness's own verdict looks at 0.1 s of processor time, which a busy machine
            // can starve; the share of processor time over the whole wait is steadier.
            let spinning = watch.spinning ?? blocked.spinning
            if toleratesBlocking && !spinning {
                transcript.note("\(function) was still waiting in a system call after \(blocked.seconds) s: accepted for this input")
                return nil
            }
            // Unblocking makes the peers act: give them a moment, so the transcript shows it.
            Thread.sleep(forTimeInterval: 0.2)
            let seconds = blocked.seconds == blocked.seconds.rounded() ? "\(Int(blocked.seconds)) s" : "\(blocked.seconds) s"
            let state = spinning ? "still running (spinning, using the processor)" : "still blocked"
            throw fail(
                expected: "\(function) to return within \(seconds)",
                actual: "it was \(state) after \(seconds); the harness unblocked it and moved on",
                hint: spinning ? (spinningHint ?? blockedHint) : blockedHint)
        }
        return try measured.result.get()  // rethrows NotStarted
    }

    /// Fails when `outcome` left sockets open. `hint` names the mistake when the check
    /// knows better than "a leak".
    func failIfLeaked<Value>(_ outcome: LearnerOutcome<Value>, _ function: String, hint: Hint? = nil) throws {
        guard !outcome.leaked.isEmpty else { return }
        let what = outcome.leaked.prefix(3).map(Inspect.describe).joined(separator: "; ")
            + (outcome.leaked.count > 3 ? "; and \(outcome.leaked.count - 3) more" : "")
        let result = outcome.value.map { _ in "returned" } ?? outcome.described.replacingOccurrences(of: "it threw", with: "threw")
        if let fd = outcome.value as? Int32 { closeIfOpen(fd) }
        outcome.leaked.forEach(closeIfOpen)
        throw fail(
            expected: "\(function) to leave no socket open except those it returns",
            actual: "it \(result) and left \(outcome.leaked.count) socket(s) open: \(what)",
            hint: hint ?? .leak)
    }

    /// The value of a call that had to succeed, or a failure naming what went wrong: a stale
    /// errno taken for a failure, a leak, or whatever `errorHint` makes of the error.
    func succeeded<Value>(
        _ outcome: LearnerOutcome<Value>, _ function: String, stale: StaleErrno?, errorHint: (any Error) -> Hint?,
        leakHint: (Value) -> Hint? = { _ in nil }
    ) throws -> Value {
        if let stale, outcome.socketError?.code == stale.code {
            let left = outcome.leaked.isEmpty ? "" : ", leaving \(outcome.leaked.count) socket(s) open (\(outcome.leaked.prefix(3).map(Inspect.describe).joined(separator: "; ")))"
            outcome.leaked.forEach(closeIfOpen)
            throw fail(
                expected: "\(function) to succeed",
                actual: "\(outcome.described)\(left); errno held \(stale.name) before the call, left over from an earlier failure, and the system call itself succeeded",
                hint: .staleErrnoTakenForFailure)
        }
        try failIfLeaked(outcome, function, hint: outcome.value.flatMap(leakHint))
        switch outcome.result {
        case .success(let value):
            return value
        case .failure(let error):
            throw fail(expected: "\(function) to succeed", actual: outcome.described, hint: errorHint(error) ?? .unexpectedFailure(function))
        }
    }

    /// Checks a call that had to throw `SocketError` naming one of `calls` (a prefix:
    /// "accept" also matches "accept4"; nil: any call) with `code`, leaving nothing open.
    /// `returnedHint` may name the mistake when it returned instead. `minusOneWasRight`: the
    /// same call already threw the right error for fd -1, so a call that did not fail now
    /// checked the number rather than the system call's result.
    func expectFailure<Value>(
        _ outcome: LearnerOutcome<Value>, calls: [String]?, code: Int32, stale: StaleErrno?, function: String,
        minusOneWasRight: Bool = false,
        returnedHint: (Value) -> Hint? = { _ in nil },
        wrongCodeHint: (SocketError) -> Hint? = { _ in nil }
    ) throws {
        let callText = calls.map { " from \($0[0])()" } ?? ""
        let expected = "\(function) to throw SocketError with \(errnoName(code))\(callText), leaving nothing open"
        let first = calls?.first ?? "the system call"
        switch outcome.result {
        case .success(let value):
            let hint = returnedHint(value) ?? (minusOneWasRight ? .descriptorNumberChecked : .uncheckedResult(first))
            let actual = outcome.described
            try failIfLeaked(outcome, function, hint: hint)
            if let fd = value as? Int32 { closeIfOpen(fd) }
            throw fail(expected: expected, actual: actual, hint: hint)
        case .failure(let error as SocketError):
            try failIfLeaked(outcome, function)
            let rightCall = calls.map { names in names.contains { error.call.hasPrefix($0) } } ?? true
            if rightCall && error.code == code { return }
            if let hint = wrongCodeHint(error) {
                throw fail(expected: expected, actual: "it threw \(error)", hint: hint)
            }
            if let stale, error.code == stale.code {
                throw fail(
                    expected: expected,
                    actual: "it threw \(error): \(stale.name) is what errno held before the call (the harness left it there, as an earlier failure would)",
                    hint: .errnoFromBeforeTheCall)
            }
            if rightCall && error.code == EBADF && code == ENOTSOCK {
                // The descriptor was open (a pipe): no call made here says EBADF about it.
                throw fail(expected: expected, actual: "it threw \(error), about a descriptor that is open", hint: .errnoWrittenIn(first))
            }
            switch (rightCall, error.code == code) {
            case (true, _):
                // The right call failed, but the code is another call's: errno was read too late.
                throw fail(expected: expected, actual: "it threw \(error)", hint: .errnoLate)
            case (false, true):
                throw fail(expected: expected, actual: "it threw \(error)", hint: Hint("error-call", "Name the call that failed: SocketError(call: \"\(first)\"). The name is how the reader of the error finds the man page."))
            case (false, false):
                // A later step failed instead: the expected call's -1 went unnoticed.
                throw fail(expected: expected, actual: "it threw \(error)", hint: minusOneWasRight ? .descriptorNumberChecked : .uncheckedResult(first))
            }
        case .failure(let error):
            try failIfLeaked(outcome, function)
            throw fail(expected: expected, actual: "it threw \(type(of: error)): \(error)", hint: Hint("error-type", "Throw SocketError(call: ...) right after the failed call: it reads errno and names the error."))
        }
    }
}

/// The learner thread's processor time over its whole call: a thread that loops uses a
/// large share of it even on a busy machine; one that waits in a system call uses almost none.
final class ThreadWatch: @unchecked Sendable {
    private let lock = NSLock()
    private var activity: ThreadActivity?
    private var started = 0.0
    private var share: Double?
    private var runnable: Bool?

    /// Called first thing on the learner's thread.
    func begin() {
        let activity = ThreadActivity()
        lock.withLock {
            self.activity = activity
            started = Clock.now
        }
    }

    /// Called from another thread when the call's time is up (before it is unblocked).
    func sample() {
        lock.withLock {
            guard let activity, let cpu = activity.cpuSeconds else { return }
            let wall = Clock.now - started
            if wall > 0 { share = cpu / wall }
            runnable = activity.isRunnable
        }
    }

    /// True when the thread used more than a fifth of the processor while it was waited
    /// for, or was ready to run when its time was up (a loop on a busy machine gets little
    /// processor time, but a thread blocked in a system call is never runnable); nil: not
    /// measured.
    var spinning: Bool? { lock.withLock { share.map { $0 > 0.2 || runnable == true } } }
}

/// Inputs for the error paths of calls that take a descriptor.
enum BadDescriptor: Sendable {
    /// -1: never open (EBADF). The one every learner thinks of.
    case minusOne
    /// A positive number that is not open, drawn from the seed (EBADF).
    case closed(Int32)
    /// The read end of a pipe: open, but not a socket (ENOTSOCK).
    case pipe(Int32)

    var fd: Int32 {
        switch self {
        case .minusOne: return -1
        case .closed(let fd), .pipe(let fd): return fd
        }
    }

    var code: Int32 {
        switch self {
        case .minusOne, .closed: return EBADF
        case .pipe: return ENOTSOCK
        }
    }

    var text: String {
        switch self {
        case .minusOne: return "fd -1, never open"
        case .closed(let fd): return "fd \(fd), a number that is not open"
        case .pipe(let fd): return "fd \(fd), the read end of a pipe: open, but not a socket"
        }
    }

    /// Runs `body` once per bad descriptor: -1, a closed number from `random`, and a pipe
    /// with one byte waiting in it (so that a call that polls first does not wait forever).
    /// The pipe is closed afterwards unless the learner's code closed it; `body` learns
    /// through `stillOpen` whether the pipe is still the harness's.
    static func each(_ random: SeededGenerator, _ body: (BadDescriptor, _ stillOpen: () -> Bool) throws -> Void) throws {
        try body(.minusOne, { true })
        try body(.closed(ErrorInputs.closedDescriptor(random)), { true })
        var ends: [Int32] = [-1, -1]
        guard SocketKit.pipe(&ends) == 0 else { throw SocketError(call: "pipe") }
        let identities = ends.map(Inspect.identity)
        defer {
            for (fd, identity) in zip(ends, identities) where Inspect.identity(fd) == identity { _ = LibC.close(fd) }
        }
        var byte: UInt8 = 0x21
        _ = write(ends[1], &byte, 1)
        try body(.pipe(ends[0]), { Inspect.identity(ends[0]) == identities[0] })
    }
}

/// The process's descriptor table made full around one learner call: the next socket(),
/// accept() or pipe() fails with EMFILE. Unlike `ErrorInputs.withDescriptorTableFull`, the
/// limit can also be restored from another thread (a deadline's `unblock`), so a learner
/// call that waits for a free descriptor forever does not leave the whole run without any.
final class FullDescriptorTable: @unchecked Sendable {
    private let lock = NSLock()
    private var saved: rlimit?

    /// Runs `body` with the table full; restores the limit when it returns.
    func around<T>(_ body: () throws -> T) throws -> T {
        try fill()
        defer { restore() }
        return try body()
    }

    func fill() throws {
        try lock.withLock {
            var limit = rlimit()
            guard getrlimit(Self.resource, &limit) == 0 else { throw SocketError(call: "getrlimit") }
            var lowestFree = fcntl(2, F_DUPFD, 0)
            if lowestFree < 0 { lowestFree = fcntl(0, F_DUPFD, 0) }
            guard lowestFree >= 0 else { throw SocketError(call: "fcntl(F_DUPFD)") }
            _ = LibC.close(lowestFree)
            var lowered = limit
            lowered.rlim_cur = rlim_t(lowestFree)
            guard setrlimit(Self.resource, &lowered) == 0 else { throw SocketError(call: "setrlimit") }
            saved = limit
        }
    }

    /// Gives the process its descriptors back. Safe to call more than once, from any thread.
    func restore() {
        lock.withLock {
            guard var limit = saved else { return }
            _ = setrlimit(Self.resource, &limit)
            saved = nil
        }
    }

    #if canImport(Darwin)
    private static let resource = RLIMIT_NOFILE
    #else
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #endif
}

/// Loopback addresses beyond 127.0.0.1. On Linux all of 127.0.0.0/8 is loopback and can be
/// bound; elsewhere only 127.0.0.1 is configured, and these fall back to it.
enum Loopback {
    /// 127.a.b.c from the seed, never 127.0.0.1.
    static func seeded(_ random: SeededGenerator) -> String {
        #if os(Linux)
        while true {
            let host = "127.\(random.int(in: 0...255)).\(random.int(in: 0...255)).\(random.int(in: 2...254))"
            if host != "127.0.0.1" { return host }
        }
        #else
        return "127.0.0.1"
        #endif
    }

    /// A fixed one, such as 127.0.0.2 (127.0.0.1 where only that one exists).
    static func fixed(_ last: Int) -> String {
        #if os(Linux)
        return "127.0.0.\(last)"
        #else
        return "127.0.0.1"
        #endif
    }
}

/// Hints for mistakes around errno and descriptors, given by lessons 1 and 2.
extension Hint {
    static let staleErrnoTakenForFailure = Hint(
        "errno-as-result",
        "Decide whether a call failed from what it returned (-1), not from errno. errno is meaningful only right after a call that returned -1: a call that succeeds leaves whatever an earlier failure put there. Here errno held an old value before your call, the system call succeeded, and your code reported a failure anyway.")

    static let errnoFromBeforeTheCall = Hint(
        "errno-stale-read",
        "The error carried errno's value from before the call: errno was read before the system call ran, or an error was thrown without any call failing. Make the call, see -1, then create SocketError(call:) at once; when you detect a problem yourself (no call failed), pass the code: SocketError(call: ..., code: EINVAL).")

    static let descriptorNumberChecked = Hint(
        "checks-the-number",
        "A descriptor that is not open is not always -1: a positive number can be closed, and an open one can be a pipe or a file. Checking `fd < 0` yourself catches only -1. Make the system call and check what it returned; the kernel knows which descriptors are open and which are sockets.")

    static let closedCallersDescriptor = Hint(
        "closes-callers-descriptor",
        "This function was handed a descriptor it does not own, and closed it. Only the code that opened a descriptor closes it: reading an option or an address must leave it open, even when the call fails.")

    static let closedBeforeReturning = Hint(
        "closed-before-return",
        "The descriptor it returned was already closed. A `defer { close(fd) }` runs on every way out of the function, the successful return too: close on the error path only (in a `catch`, or a defer guarded by a flag), and hand the open descriptor to the caller, who closes it when done.")

    static func unexpectedFailure(_ function: String) -> Hint {
        Hint("unexpected-error", "\(function) threw for an input it must handle. The error names the call that failed and errno's reason: look at what your code passed to that call.")
    }
}

#if os(Linux)
/// A TCP socket whose close() lingers: it has unsent data (the harness peer's receive buffer
/// is full), and SO_LINGER is on. Linux frees the descriptor number at once, then keeps the
/// close() call waiting until the data is gone or the peer resets, which the harness does
/// when `releaseClose` is called. The socket is the learner's to close.
final class LingeringSocket: @unchecked Sendable {
    let fd: Int32
    private let identity: [UInt64]?
    private let listener: HarnessSocket
    private let peer: HarnessSocket
    private let lock = NSLock()
    private var released = false

    private init(fd: Int32, listener: HarnessSocket, peer: HarnessSocket) {
        self.fd = fd
        self.identity = Inspect.identity(fd)
        self.listener = listener
        self.peer = peer
    }

    static func make() throws -> LingeringSocket {
        let listener = try HarnessSocket.listener()
        let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
        guard fd >= 0 else { throw SocketError(call: "socket") }
        var small: Int32 = 4096
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        do {
            try listener.localAddress.withSockAddr { pointer, length in
                guard connect(fd, pointer, length) == 0 else { throw SocketError(call: "connect") }
            }
            guard let peer = try listener.accept(seconds: Deadline.standard) else { throw SocketError(call: "accept", code: ETIMEDOUT) }
            try peer.setOption(SOL_SOCKET, SO_RCVBUF, 4096, "SO_RCVBUF")
            // Fill both buffers: the peer never reads, so the data cannot all leave.
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            let chunk = [UInt8](repeating: 0x2A, count: 65_536)
            var total = 0
            while total < 8 << 20 {
                let sent = chunk.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendNoSignal) }
                if sent <= 0 { break }
                total += sent
            }
            _ = fcntl(fd, F_SETFL, flags)
            var linger = SocketKit.linger(l_onoff: 1, l_linger: 5)
            guard setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<SocketKit.linger>.size)) == 0 else {
                throw SocketError(call: "setsockopt(SO_LINGER)")
            }
            return LingeringSocket(fd: fd, listener: listener, peer: peer)
        } catch {
            _ = LibC.close(fd)
            throw error
        }
    }

    /// True once the learner's socket is gone from its number.
    var wasClosed: Bool { Inspect.identity(fd) != identity }

    /// Resets the peer: a close() lingering on the learner's socket returns.
    func releaseClose() {
        let first = lock.withLock { () -> Bool in
            defer { released = true }
            return !released
        }
        guard first else { return }
        try? peer.resetOnClose()
        peer.close()
    }

    /// Lets go of everything; closes the learner's socket (without lingering) if its code did not.
    func finish() {
        releaseClose()
        if Inspect.identity(fd) == identity {
            var linger = SocketKit.linger(l_onoff: 1, l_linger: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<SocketKit.linger>.size))
            _ = LibC.close(fd)
        }
        listener.close()
    }
}

/// Watches descriptor number `fd` from a thread of its own. The moment it is free, takes it
/// (a duplicate of /dev/null gets that number) and calls `whenTaken`. Afterwards
/// `stillHolds` tells whether anything closed the harness's file on that number.
final class NumberTaker: @unchecked Sendable {
    let fd: Int32
    private let whenTaken: @Sendable () -> Void
    private let holder: Int32
    private let holderIdentity: [UInt64]?
    private let lock = NSLock()
    private var stopped = false
    private var took = false
    private let done = DispatchSemaphore(value: 0)

    init(_ fd: Int32, whenTaken: @escaping @Sendable () -> Void) {
        self.fd = fd
        self.whenTaken = whenTaken
        // Opened now, before the number is free, so that it does not take the number itself.
        holder = open("/dev/null", O_RDONLY)
        holderIdentity = Inspect.identity(holder)
    }

    func start() {
        Thread { [self] in
            defer { done.signal() }
            let started = Clock.now
            while !lock.withLock({ stopped }) && Clock.now - started < 1.0 {
                guard fcntl(fd, F_GETFD) == -1 else { continue }
                let got = fcntl(holder, F_DUPFD, fd)
                if got == fd {
                    lock.withLock { took = true }
                } else if got >= 0 {
                    _ = LibC.close(got)  // another thread got the number first: no verdict
                }
                break
            }
            whenTaken()
        }.start()
    }

    /// Stops watching (if it still is) and waits for the watcher to end.
    func stop() {
        lock.withLock { stopped = true }
        _ = done.wait(timeout: .now() + 2)
        done.signal()
    }

    var tookTheNumber: Bool { lock.withLock { took } }

    /// True while the number still holds the harness's file. Closes it when asked to finish.
    var stillHolds: Bool { tookTheNumber && Inspect.identity(fd) == holderIdentity }

    deinit {
        if stillHolds { _ = LibC.close(fd) }
        if holder >= 0 { _ = LibC.close(holder) }
    }
}
#endif

/// Descriptor 0 (standard input) set aside for one check, so that the next socket gets
/// number 0, as it does in a daemon started with its standard input closed. 0 is a
/// descriptor like any other: only -1 means failure.
final class DescriptorZeroFree {
    private let saved: Int32

    /// Frees number 0 (keeping standard input on a copy).
    init() {
        saved = fcntl(0, F_DUPFD_CLOEXEC, 3)
        if saved >= 0 { _ = LibC.close(0) }
    }

    /// Puts standard input back on 0, closing what the check left there: a socket of the
    /// learner's. Anything else on 0 belongs to someone else in this process (Dispatch opens
    /// its event descriptors lazily, and may have taken the free 0 meanwhile): never replace
    /// it; standard input then stays on its copy, which no check reads.
    func restore() {
        guard saved >= 0 else { return }
        if !Inspect.isOpen(0) || (Inspect.isSocket(0) && !Inspect.isHarnessOwned(0)) {
            _ = dup2(saved, 0)
            _ = LibC.close(saved)
        }
    }
}

extension Hint {
    static let zeroIsADescriptor = Hint(
        "descriptor-zero",
        "0 is a valid descriptor: the kernel gives out the lowest free number, and a program started with its standard input closed (a daemon, a service) gets 0 for its first socket. Only -1 means failure: check `fd == -1` (or `fd < 0`), not `fd > 0` or `fd <= 0`.")
}

/// Fails when a call made with descriptor 0 free threw, or left a socket on 0 behind: its
/// code took the 0 that socket() or accept() returned for a failure.
func expectDescriptorZeroAccepted<Value>(_ outcome: LearnerOutcome<Value>, probe: Probe, function: String) throws {
    guard outcome.error != nil || outcome.leaked.contains(0) else { return }
    let left = outcome.leaked.isEmpty ? "" : " and left \(outcome.leaked.count) socket(s) open: \(outcome.leaked.prefix(3).map(Inspect.describe).joined(separator: "; "))"
    outcome.leaked.forEach(closeIfOpen)
    if let fd = outcome.value as? Int32 { closeIfOpen(fd) }
    throw probe.fail(
        expected: "\(function) to succeed with descriptor 0 free (the system call returns 0, a valid descriptor)",
        actual: "\(outcome.described)\(left)", hint: .zeroIsADescriptor)
}

extension Hint {
    /// A fixed code in the error where errno had the reason.
    static func errnoWrittenIn(_ call: String) -> Hint {
        Hint("errno-made-up", "The error's code was written in by hand instead of read from errno: \(call)() said why it failed (here ENOTSOCK: an open descriptor that is not a socket), and SocketError(call: \"\(call)\") right after it keeps that reason.")
    }
}
