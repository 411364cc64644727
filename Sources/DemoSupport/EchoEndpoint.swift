import SocketKit

// Where lesson10-unix serves its echo, or connects to: a socket file (--path) or a TCP
// address (--host / --port). One flag set, one function, so that the same echo code runs
// over both families.

/// A place to listen or connect: a Unix socket path or a TCP address.
public enum EchoEndpoint: Sendable, CustomStringConvertible {
    case path(String)
    case tcp(SocketAddress)

    public var description: String {
        switch self {
        case .path(let path): return "unix:\(path)"
        case .tcp(let address): return "\(address)"
        }
    }
}

extension DemoCommand {
    /// The endpoint the flags name: TCP when --host or --port was given, the socket file
    /// --path otherwise (giving both is refused: one line, exit 2). A host is read by
    /// `tcpAddress` (the one place that turns --host text into an address), with `resolve`
    /// (the learner's own lesson 9 resolver) for names.
    public func echoEndpoint(_ options: Options, ipv4Only: Bool, resolve: (String, UInt16) throws -> [SocketAddress]) -> EchoEndpoint {
        let tcp = options.given.contains("host") || options.given.contains("port")
        if tcp && options.given.contains("path") {
            fail("--path is a Unix socket, --host and --port are TCP: give one or the other (see --help)")
        }
        guard tcp else {
            let path = options["path"]
            if path.isEmpty { fail("--path must not be empty") }
            return .path(path)
        }
        return .tcp(tcpAddress(host: options["host"], port: port(options["port"]), ipv4Only: ipv4Only, resolve: resolve))
    }

    /// A numeric address as it is; a name through `resolve` (the learner's lesson 9 resolver:
    /// the first address, the first IPv4 one with `ipv4Only`). While lesson 9 is a stub
    /// (NotStarted) the demos' own resolver stands in, so lesson 10 does not wait for lesson 9.
    public func tcpAddress(host: String, port: UInt16, ipv4Only: Bool, resolve: (String, UInt16) throws -> [SocketAddress]) -> SocketAddress {
        var v4 = in_addr()
        var v6 = in6_addr()
        guard inet_pton(AF_INET, host, &v4) != 1, inet_pton(AF_INET6, host, &v6) != 1, !host.isEmpty else {
            return address(host: host, port: port, ipv4Only: ipv4Only)
        }
        do {
            let found = try resolve(host, port).filter { !ipv4Only || $0.family == .inet }
            guard let first = found.first else { fail("--host \(shown(host)) has no \(ipv4Only ? "IPv4 " : "")address") }
            return first
        } catch is NotStarted {
            return address(host: host, port: port, ipv4Only: ipv4Only)
        } catch {
            fail("--host \(shown(host)) does not resolve: \(error)")
        }
    }
}
