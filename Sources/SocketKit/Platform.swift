// The one place where Linux (Glibc) and macOS (Darwin) differ for this workbook.
// Everything else imports SocketKit and uses these names.

#if canImport(Darwin)
@_exported import Darwin
#elseif canImport(Glibc)
@_exported import Glibc
#elseif canImport(Musl)
@_exported import Musl
#else
#error("SocketKit needs Darwin, Glibc or Musl")
#endif

/// The C library's calls under one name.
///
/// Inside a type that has its own `close()`, `send` or `shutdown`, a bare call finds the
/// member, not the C function. `LibC.close(fd)` always means the system call.
public enum LibC {
    @inlinable public static func close(_ fd: Int32) -> Int32 {
        #if canImport(Darwin)
        return Darwin.close(fd)
        #elseif canImport(Glibc)
        return Glibc.close(fd)
        #else
        return Musl.close(fd)
        #endif
    }

    @inlinable public static func shutdown(_ fd: Int32, _ how: Int32) -> Int32 {
        #if canImport(Darwin)
        return Darwin.shutdown(fd, how)
        #elseif canImport(Glibc)
        return Glibc.shutdown(fd, how)
        #else
        return Musl.shutdown(fd, how)
        #endif
    }
}

/// Flags to pass to `send` so that writing to a connection the peer has reset returns
/// -1 with EPIPE instead of killing the process with SIGPIPE.
///
/// Linux has `MSG_NOSIGNAL`. macOS has no such flag: there, set `SO_NOSIGPIPE` on the
/// socket once (see `suppressSIGPIPE(on:)`).
public let sendNoSignal: Int32 = {
    #if canImport(Darwin)
    return 0
    #else
    return Int32(MSG_NOSIGNAL)
    #endif
}()

/// On macOS, sets `SO_NOSIGPIPE` so that writes to a reset connection fail with EPIPE.
/// On Linux this does nothing: pass `sendNoSignal` to `send` instead.
public func suppressSIGPIPE(on fd: Int32) throws(SocketError) {
    #if canImport(Darwin)
    var one: Int32 = 1
    guard setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
        throw SocketError(call: "setsockopt(SO_NOSIGPIPE)")
    }
    #endif
}

/// The shutdown directions as `Int32` on every platform (Glibc imports them as `Int`).
public enum ShutdownHow {
    public static let read = Int32(SHUT_RD)
    public static let write = Int32(SHUT_WR)
    public static let both = Int32(SHUT_RDWR)
}

/// A `sigaction` that runs `handler` with no other signal blocked. With `restart`, a call the
/// signal interrupts starts again by itself (SA_RESTART); without it, the call fails with
/// EINTR. (The handler's field is named differently on Darwin and Glibc: this hides it.)
public func signalAction(_ handler: @convention(c) (Int32) -> Void, restart: Bool) -> sigaction {
    var action = sigaction()
    #if canImport(Darwin)
    action.__sigaction_u.__sa_handler = handler
    #else
    action.__sigaction_handler.sa_handler = handler
    #endif
    sigemptyset(&action.sa_mask)
    action.sa_flags = restart ? SA_RESTART : 0
    return action
}
