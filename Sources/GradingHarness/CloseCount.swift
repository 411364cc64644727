import Foundation
import SocketKit

/// Counts how many times the learner's code calls `close` on one descriptor: a function that
/// owns a connection must close it exactly once. The second `close(fd)` of a number is a bug
/// even when it "works": by then another thread may have opened a file under that number,
/// and the second close takes that file away from it.
///
/// How it counts, on Linux: around the learner's call, on the learner's own thread only, a
/// seccomp filter turns every `close(fd)` into a SIGSYS; the handler counts it and does the
/// real close itself, so the learner's code sees exactly what the kernel would have done.
/// Other threads (the harness, its peers) are not filtered. The filter goes away with the
/// thread (`Deadline` runs each learner call on a fresh one).
///
/// Elsewhere (macOS), or when the kernel refuses the filter, `closes` is nil: not counted,
/// and the check that asks says nothing either way.
public final class CloseCount: @unchecked Sendable {
    public let fd: Int32
    private let lock = NSLock()
    private var counted: Int?

    public init(_ fd: Int32) {
        self.fd = fd
    }

    /// The number of `close(fd)` calls the learner's thread made inside `watch`; nil when
    /// they could not be counted.
    public var closes: Int? { lock.withLock { counted } }

    /// The count read again now. The filter `watch` installs stays on its thread (and on the
    /// threads it starts) after `watch` returns and goes on counting, so this also counts a
    /// close the learner's code makes once a harness callback has returned: a server's thread
    /// that calls a handler, then closes the connection. Read it once that thread is done with
    /// the descriptor; nil when closes could not be counted.
    public var closesSoFar: Int? {
        lock.withLock { counted == nil ? nil : CloseTrap.count(fd) }
    }

    /// Runs `body` (the learner's call) counting its `close(fd)` calls. Call it on the
    /// learner's thread: inside the closure given to `probe.call` / `attempt` / `measure`.
    public func watch<T>(_ body: () throws -> T) rethrows -> T {
        let watching = CloseTrap.start(fd)
        defer {
            let count = watching ? CloseTrap.count(fd) : nil
            lock.withLock { counted = count }
        }
        return try body()
    }
}

#if os(Linux) && (arch(x86_64) || arch(arm64))
/// The seccomp part of `CloseCount`. Nothing here allocates or locks inside the signal
/// handler: it reads registers, bumps a counter in a table made in advance, and makes one
/// raw system call.
enum CloseTrap {
    /// Descriptors above this are not counted (the table's size).
    static let tableSize = 65_536

    /// A value no `close` call carries in its second argument register: the handler's own
    /// close passes it, and the filter lets that one through.
    static let magic: UInt64 = 0x5EED_C105_E0DD_F00D

    #if arch(x86_64)
    static let closeNumber: UInt32 = 3
    static let auditArch: UInt32 = 0xC000_003E  // AUDIT_ARCH_X86_64
    #else
    static let closeNumber: UInt32 = 57
    static let auditArch: UInt32 = 0xC000_00B7  // AUDIT_ARCH_AARCH64
    #endif

    /// Set up once, before any filter exists, so the handler never runs an initializer.
    static let ready: Bool = {
        guard let prctl = Functions.prctl, Functions.syscall != nil else { return false }
        _ = prctl
        _ = counts
        var action = sigaction()
        action.__sigaction_handler.sa_sigaction = handleSIGSYS
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_SIGINFO | SA_RESTART
        return sigaction(SIGSYS, &action, nil) == 0
    }()

    /// How many times each descriptor number was closed by a filtered thread.
    nonisolated(unsafe) static let counts: UnsafeMutablePointer<Int32> = {
        let table = UnsafeMutablePointer<Int32>.allocate(capacity: tableSize)
        table.initialize(repeating: 0, count: tableSize)
        return table
    }()

    /// Installs the filter on the calling thread for `fd`; false when that is not possible.
    static func start(_ fd: Int32) -> Bool {
        guard fd >= 0, Int(fd) < tableSize, ready, let prctl = Functions.prctl else { return false }
        counts[Int(fd)] = 0
        // struct seccomp_data: nr at 0, arch at 4, instruction pointer at 8, args at 16 (8 bytes each).
        let load: UInt16 = 0x20  // BPF_LD | BPF_W | BPF_ABS
        let jumpIfEqual: UInt16 = 0x15  // BPF_JMP | BPF_JEQ | BPF_K
        let ret: UInt16 = 0x06  // BPF_RET | BPF_K
        let allow: UInt32 = 0x7FFF_0000, trap: UInt32 = 0x0003_0000
        let program: [SockFilter] = [
            SockFilter(code: load, jt: 0, jf: 0, k: 4),  // 0: the architecture
            SockFilter(code: jumpIfEqual, jt: 0, jf: 9, k: auditArch),  // 1: another one: allow
            SockFilter(code: load, jt: 0, jf: 0, k: 0),  // 2: the system call number
            SockFilter(code: jumpIfEqual, jt: 0, jf: 7, k: closeNumber),  // 3: not close: allow
            SockFilter(code: load, jt: 0, jf: 0, k: 16),  // 4: args[0] (the descriptor), low half
            SockFilter(code: jumpIfEqual, jt: 0, jf: 5, k: UInt32(bitPattern: fd)),  // 5: another descriptor: allow
            SockFilter(code: load, jt: 0, jf: 0, k: 24),  // 6: args[1], low half
            SockFilter(code: jumpIfEqual, jt: 0, jf: 2, k: UInt32(truncatingIfNeeded: magic)),  // 7: not the handler's: trap
            SockFilter(code: load, jt: 0, jf: 0, k: 28),  // 8: args[1], high half
            SockFilter(code: jumpIfEqual, jt: 1, jf: 0, k: UInt32(truncatingIfNeeded: magic >> 32)),  // 9: the handler's: allow
            SockFilter(code: ret, jt: 0, jf: 0, k: trap),  // 10
            SockFilter(code: ret, jt: 0, jf: 0, k: allow),  // 11
        ]
        // PR_SET_NO_NEW_PRIVS (38) lets an unprivileged thread install a filter; it holds for
        // this thread (and threads it starts) only.
        guard prctl(38, 1, 0, 0, 0) == 0 else { return false }
        return program.withUnsafeBufferPointer { buffer in
            var fprog = SockFprog(len: UInt16(buffer.count), filter: buffer.baseAddress)
            // PR_SET_SECCOMP (22), SECCOMP_MODE_FILTER (2)
            return withUnsafePointer(to: &fprog) { prctl(22, 2, UInt(bitPattern: $0), 0, 0) } == 0
        }
    }

    static func count(_ fd: Int32) -> Int {
        Int(counts[Int(fd)])
    }

    private struct SockFilter {
        var code: UInt16
        var jt: UInt8
        var jf: UInt8
        var k: UInt32
    }

    private struct SockFprog {
        var len: UInt16
        var filter: UnsafePointer<SockFilter>?
    }

    /// prctl and syscall are variadic in C, so Swift does not import them: looked up once.
    enum Functions {
        typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
        typealias Syscall = @convention(c) (Int, Int, Int) -> Int
        static let prctl: Prctl? = dlsym(nil, "prctl").map { unsafeBitCast($0, to: Prctl.self) }
        static let syscall: Syscall? = dlsym(nil, "syscall").map { unsafeBitCast($0, to: Syscall.self) }
    }
}

/// SIGSYS from the filter: a learner's `close(fd)`. Count it, close for real, and put the
/// result where the interrupted system call's result goes.
private let handleSIGSYS: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = { _, _, context in
    guard let context, let syscall = CloseTrap.Functions.syscall else { return }
    let saved = errno
    let state = context.assumingMemoryBound(to: ucontext_t.self)
    #if arch(x86_64)
    let fd = Int(state.pointee.uc_mcontext.gregs.8)  // REG_RDI: the first argument
    #else
    let fd = Int(state.pointee.uc_mcontext.regs.0)  // x0: the first argument
    #endif
    if fd >= 0 && fd < CloseTrap.tableSize { CloseTrap.counts[fd] &+= 1 }
    let result = syscall(Int(CloseTrap.closeNumber), fd, Int(bitPattern: UInt(CloseTrap.magic)))
    let returned = result == -1 ? -Int(errno) : result
    #if arch(x86_64)
    state.pointee.uc_mcontext.gregs.13 = Int64(returned)  // REG_RAX: the result
    #else
    state.pointee.uc_mcontext.regs.0 = UInt64(bitPattern: Int64(returned))  // x0: the result
    #endif
    errno = saved
}
#else
enum CloseTrap {
    static func start(_ fd: Int32) -> Bool { false }
    static func count(_ fd: Int32) -> Int { 0 }
}
#endif
