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
    /// `tcpAddress` (the one place that turns --host text into an address).
    public func echoEndpoint(_ options: Options, ipv4Only: Bool) -> EchoEndpoint {
        let tcp = options.given.contains("host") || options.given.contains("port")
        if tcp && options.given.contains("path") {
            fail("--path is a Unix socket, --host and --port are TCP: give one or the other (see --help)")
        }
        guard tcp else {
            let path = options["path"]
            if path.isEmpty { fail("--path must not be empty") }
            return .path(path)
        }
        return .tcp(tcpAddress(host: options["host"], port: port(options["port"]), ipv4Only: ipv4Only))
    }

    /// A numeric address, or `localhost` as the loopback address 127.0.0.1 (this machine's
    /// /etc/hosts says the same). Names in general are lesson 9's (getaddrinfo).
    public func tcpAddress(host: String, port: UInt16, ipv4Only: Bool) -> SocketAddress {
        address(host: host == "localhost" ? "127.0.0.1" : host, port: port, ipv4Only: ipv4Only)
    }
}
