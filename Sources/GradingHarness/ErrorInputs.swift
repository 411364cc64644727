import Foundation
import SocketKit

/// Inputs that make a system call fail, for the error paths every check must try with at
/// least two inputs, one of which the learner cannot special-case (not only fd -1).
///
/// Each one is cleaned up by the harness; none is ever handed to the learner for keeps.
public enum ErrorInputs {
    /// A positive descriptor number that is not open: drawn from `random` in a range no
    /// ordinary process reaches, and checked to be closed. Calls on it fail with EBADF.
    public static func closedDescriptor(_ random: SeededGenerator) -> Int32 {
        while true {
            let fd = Int32(random.int(in: 700...4000))
            if !Inspect.isOpen(fd) { return fd }
        }
    }

    /// Runs `body` with an open descriptor that is not a socket (the read end of a pipe):
    /// socket calls on it fail with ENOTSOCK. Both ends are closed afterwards, unless the
    /// learner's code closed the number already (then it is left alone: it may be reused).
    public static func withPipe<T>(_ body: (Int32) throws -> T) throws -> T {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw SocketError(call: "pipe") }
        let identities = ends.map(Inspect.identity)
        defer {
            for (fd, identity) in zip(ends, identities) where Inspect.identity(fd) == identity {
                _ = LibC.close(fd)
            }
        }
        return try body(ends[0])
    }

    /// Runs `body` while this process may open no more descriptors: the soft RLIMIT_NOFILE
    /// is lowered to the lowest free number, so the next socket(), accept() or pipe() fails
    /// with EMFILE. The limit is restored the moment `body` returns.
    ///
    /// Only for learner calls that run while no harness peer is opening sockets.
    public static func withDescriptorTableFull<T>(_ body: () throws -> T) throws -> T {
        var limit = rlimit()
        guard getrlimit(resourceNoFile, &limit) == 0 else { throw SocketError(call: "getrlimit") }
        let lowestFree = dup(0)
        guard lowestFree >= 0 else { throw SocketError(call: "dup") }
        _ = LibC.close(lowestFree)
        var lowered = limit
        lowered.rlim_cur = rlim_t(lowestFree)
        guard setrlimit(resourceNoFile, &lowered) == 0 else { throw SocketError(call: "setrlimit") }
        defer { _ = setrlimit(resourceNoFile, &limit) }
        return try body()
    }

    /// Leaves a stale, non-zero errno on the calling thread, as an earlier failed call
    /// would: a call that succeeds must not be reported as failing because of it. Call it
    /// first thing inside the learner's thread (errno belongs to one thread).
    public static func leaveStaleErrno(_ random: SeededGenerator) {
        StaleErrno(random).plant()
    }

    #if canImport(Darwin)
    private static let resourceNoFile = RLIMIT_NOFILE
    #else
    private static let resourceNoFile = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #endif
}

/// A stale, non-zero errno for a learner's call that succeeds (rule 1): drawn from the
/// check's seed before the call, planted first thing on the learner's thread (errno belongs
/// to one thread), and recognised afterwards if the learner's code reports it as a failure.
public struct StaleErrno: Sendable, Equatable {
    public let code: Int32

    /// Drawn from `candidates`: best, codes the calls under test never produce on their own,
    /// so that an answer which throws one was reading errno after a success.
    public init(_ random: SeededGenerator, from candidates: [Int32] = StaleErrno.usual) {
        code = random.pick(candidates)
    }

    private init(code: Int32) { self.code = code }

    /// The codes `ErrorInputs.leaveStaleErrno` draws from.
    public static let usual: [Int32] = [EINTR, EAGAIN, EBADF, ECONNREFUSED, EINVAL]

    /// errno cleared to 0: for a check that must not mix a stale errno into its verdict.
    public static let cleared = StaleErrno(code: 0)

    /// Leaves `code` in errno on the calling thread.
    public func plant() { errno = code }

    public var name: String { errnoName(code) }

    /// True when `error` is a SocketError carrying the planted code.
    public func explains(_ error: any Error) -> Bool { (error as? SocketError)?.code == code }
}
