import Foundation
import GradingHarness
import SocketKit

// Helpers for lesson 2's grader: clients that connect from an address and port the check
// chose, and the listen backlog read back from the kernel.

enum BoundClient {
    /// A harness client bound to `host` and a port drawn from `random`, connected to
    /// `server`. Its address is what the learner's accept must report. Written into the
    /// transcript as a connection of its own.
    static func connect(from host: String, random: SeededGenerator, to server: SocketAddress, transcript: Transcript) throws -> HarnessSocket {
        var lastError = SocketError(call: "bind", code: EADDRINUSE)
        for _ in 0..<20 {
            let port = UInt16(random.int(in: 20_000...60_999))
            let local: SocketAddress = host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
            let socket = try HarnessSocket.make(local.family)
            do {
                try local.withSockAddr { pointer, length in
                    guard bind(socket.fd, pointer, length) == 0 else { throw SocketError(call: "bind") }
                }
            } catch let error as SocketError where error.code == EADDRINUSE {
                socket.close()
                lastError = error
                continue
            }
            try connectBounded(socket, to: server)
            _ = transcript.open("client \(local) -> your server \(server)")
            return socket
        }
        throw lastError
    }

    /// connect, waiting at most Deadline.standard (as HarnessSocket.connect does).
    private static func connectBounded(_ socket: HarnessSocket, to address: SocketAddress) throws {
        let flags = fcntl(socket.fd, F_GETFL)
        guard flags >= 0, fcntl(socket.fd, F_SETFL, flags | O_NONBLOCK) == 0 else { throw SocketError(call: "fcntl") }
        let started = try address.withSockAddr { pointer, length in SocketKit.connect(socket.fd, pointer, length) }
        if started != 0 {
            guard errno == EINPROGRESS else { throw SocketError(call: "connect") }
            guard Inspect.waitWritable(socket.fd, seconds: Deadline.standard) else { throw SocketError(call: "connect", code: ETIMEDOUT) }
            let failure = try Inspect.intOption(socket.fd, SOL_SOCKET, SO_ERROR, "SO_ERROR")
            guard failure == 0 else { throw SocketError(call: "connect", code: failure) }
        }
        guard fcntl(socket.fd, F_SETFL, flags) == 0 else { throw SocketError(call: "fcntl") }
    }
}

#if os(Linux)
enum ListenBacklog {
    /// The backlog a listening socket was given, as the kernel keeps it: TCP_INFO's
    /// tcpi_sacked holds it for a socket in LISTEN (tcpi_state 10).
    static func of(_ fd: Int32) throws -> UInt32 {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else {
            throw SocketError(call: "getsockopt(TCP_INFO)")
        }
        return info.tcpi_sacked
    }

    /// The most the kernel keeps: listen() silently caps the backlog at net.core.somaxconn.
    static var cap: Int32 {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/core/somaxconn", encoding: .utf8),
              let value = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return 4096 }
        return value
    }
}
#endif
