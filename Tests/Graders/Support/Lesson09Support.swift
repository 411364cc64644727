import Foundation
import GradingHarness
import MallocCount
import SocketKit

/// The harness's own view of names and addresses (lesson 9): its own getaddrinfo, peers that
/// refuse or never answer, and the hints of the lesson. None of it is the reference answer.
enum NamesLesson {
    /// What the harness's own getaddrinfo makes of the same question: the addresses in the
    /// list's order, or the EAI code it returned.
    static func lookup(_ host: String?, _ port: String, family: Int32, socketType: Int32, flags: Int32) -> Result<[SocketAddress], LookupCode> {
        var hints = addrinfo()
        hints.ai_family = family
        hints.ai_socktype = socketType
        hints.ai_flags = flags
        var list: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, port, &hints, &list)
        guard code == 0 else { return .failure(LookupCode(code: code)) }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let current = entry?.pointee {
            entry = current.ai_next
            guard let pointer = current.ai_addr else { continue }
            var storage = sockaddr_storage()
            let length = min(Int(current.ai_addrlen), MemoryLayout<sockaddr_storage>.size)
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: length)) }
            if let address = try? SocketAddress(storage: storage, length: socklen_t(length)) { addresses.append(address) }
        }
        return .success(addresses)
    }

    struct LookupCode: Error {
        let code: Int32
        var text: String { NamesLesson.text(code) }
    }

    /// gai_strerror's text for `code`.
    static func text(_ code: Int32) -> String { String(cString: gai_strerror(code)) }

    /// "EAI_NONAME" for -2, and so on.
    static func name(_ code: Int32) -> String {
        let names: [(Int32, String)] = [
            (EAI_NONAME, "EAI_NONAME"), (EAI_SERVICE, "EAI_SERVICE"), (EAI_FAMILY, "EAI_FAMILY"),
            (EAI_SOCKTYPE, "EAI_SOCKTYPE"), (EAI_AGAIN, "EAI_AGAIN"), (EAI_FAIL, "EAI_FAIL"),
            (EAI_BADFLAGS, "EAI_BADFLAGS"), (EAI_MEMORY, "EAI_MEMORY"), (EAI_SYSTEM, "EAI_SYSTEM"),
        ]
        return names.first { $0.0 == code }?.1 ?? "EAI code \(code)"
    }

    /// A random address in 127.0.0.0/8 (all of it is loopback on Linux).
    static func loopback4(_ random: SeededGenerator) -> String {
        "127.\(random.int(in: 0...255)).\(random.int(in: 0...255)).\(random.int(in: 1...254))"
    }

    /// A socket bound to a port of `host` and not listening: a connect there is refused at
    /// once. Keep it until the check ends, so that nobody else takes the port.
    static func refusing(_ host: String) throws -> (keep: HarnessSocket, address: SocketAddress) {
        let address: SocketAddress = host.contains(":") ? .ipv6(host: host, port: 0) : .ipv4(host: host, port: 0)
        let socket = try HarnessSocket.make(address.family)
        try address.withSockAddr { pointer, length in
            guard bind(socket.fd, pointer, length) == 0 else { throw SocketError(call: "bind") }
        }
        return (socket, try socket.localAddress)
    }

    /// A listener on `host` whose queue is full (backlog 0 and one connection it never
    /// accepts): the kernel drops the next SYN, so a connect there waits with no answer.
    static func full(_ host: String) throws -> (keep: [HarnessSocket], address: SocketAddress) {
        let listener = try HarnessSocket.listener(host: host, backlog: 0)
        let address = try listener.localAddress
        let waiting = try HarnessSocket.connect(to: address, seconds: 1.0)
        return ([listener, waiting], address)
    }

    /// The bytes in use by malloc, all arenas (glibc's mallinfo2): what a list that was never
    /// freed adds to. nil where there is no such count.
    static func bytesInUse() -> Int? {
        let bytes = malloc_count_bytes_in_use()
        return bytes < 0 ? nil : Int(bytes)
    }

    /// Whether `fd` is in non-blocking mode.
    static func isNonBlocking(_ fd: Int32) -> Bool {
        let flags = fcntl(fd, F_GETFL)
        return flags >= 0 && flags & O_NONBLOCK != 0
    }

    /// The listen backlog the kernel holds for `fd` (TCP_INFO's tcpi_sacked on a listener,
    /// Linux), or nil where it cannot be read.
    static func backlog(_ fd: Int32) -> Int32? {
        #if canImport(Glibc)
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0, info.tcpi_state == 10 else { return nil }
        return Int32(info.tcpi_sacked)
        #else
        return nil
        #endif
    }

    /// How an outcome reads in a failure.
    static func describe(_ outcome: Result<[SocketAddress], any Error>) -> String {
        switch outcome {
        case .success(let list): return "it returned [\(list.map(\.description).joined(separator: ", "))]"
        case .failure(let error): return "it threw \(type(of: error)): \(error)"
        }
    }

    /// The list with each port's two bytes swapped: what a port read without
    /// UInt16(bigEndian:) looks like.
    static func byteSwapped(_ list: [SocketAddress]) -> [SocketAddress] {
        list.map {
            switch $0 {
            case .ipv4(let host, let port): return .ipv4(host: host, port: port.byteSwapped)
            case .ipv6(let host, let port): return .ipv6(host: host, port: port.byteSwapped)
            case .unix: return $0
            }
        }
    }
}

extension Hint {
    static let gaiNotErrno = Hint("gai-not-errno", "getaddrinfo and getnameinfo do not set errno: they return their own code (EAI_NONAME is -2). Keep that return value and throw LookupError(code: code, text: String(cString: gai_strerror(code))), not SocketError, which reads an errno that is left over from some earlier call.")
    static let gaiStrerror = Hint("gai-strerror", "The text of a LookupError is gai_strerror(code): the resolver's own words for its code (\"Name or service not known\"). strerror is for errno values and says something else for the same number.")
    static let gaiCode = Hint("gai-code", "Keep the value getaddrinfo returned: 0 is success, anything else is an EAI_* code. Throw that code itself, and only when it is not 0.")
    static let freeaddrinfo = Hint("freeaddrinfo", "getaddrinfo allocates the list it hands you. Call freeaddrinfo(list) once you have copied the addresses out: a `defer` right after the success check frees it on every path, including an entry you cannot read.")
    static let resolveHints = Hint("resolve-hints", "Put family, socketType and flags into the hints (ai_family, ai_socktype, ai_flags) and pass them to getaddrinfo: without them it answers another question (every family, every type, no AI_PASSIVE).")
    static let resolveOrder = Hint("resolve-order", "Return one address for each entry of getaddrinfo's list, in the list's order (follow ai_next to the end): the order is the resolver's advice on which to try first.")
    static let portByteOrder = Hint("port-byte-order", "sin_port and sin6_port are in network byte order. Read them with UInt16(bigEndian:), or copy the entry into a sockaddr_storage and use SocketAddress(storage:length:), which does it for you.")
    static let tryEachAddress = Hint("try-each-address", "A name may have several addresses, and the first may not answer (a server listening on IPv4 only, while ::1 comes first). When an attempt fails, close its socket and try the next address; throw only when every one has failed.")
    static let attemptTimeout = Hint("attempt-timeout", "Bound each attempt: make the socket non-blocking, connect (EINPROGRESS), poll for POLLOUT with the attempt's timeout, then read SO_ERROR. A blocking connect to an address that never answers waits for minutes, and the next address never gets its turn.")
    static let attemptTooShort = Hint("attempt-too-short", "An attempt must be given its whole timeout (poll with the timeout in milliseconds, rounded up), not cut short: a server that answers slowly is still a server.")
    static let blockingAgain = Hint("blocking-again", "The socket you return must be in blocking mode again: the caller will recv and send on it as on any socket. Clear O_NONBLOCK with fcntl(F_SETFL) after the connect succeeds.")
    static let lastError = Hint("last-error", "When no address answers, throw SocketError(call: \"connect\", code: ...) with the last attempt's error: ECONNREFUSED from a refusal, ETIMEDOUT when its time ran out (poll returned 0); EINVAL for an empty list.")
    static let passiveFlag = Hint("passive-flag", "A server resolves with AI_PASSIVE and no host: the answer is the wildcard address (:: for AF_INET6) that takes connections on every address. Without AI_PASSIVE the same question gives ::1, loopback only.")
    static let v6only = Hint("v6only", "Set IPV6_V6ONLY (level IPPROTO_IPV6) to 0 before bind: then the IPv6 socket on :: takes IPv4 clients too. With it on, IPv4 clients are refused (or need a second listener), and the default differs between systems.")
    static let listenerPort = Hint("listener-port", "Listen on the port you were given: pass String(port) to resolve, and bind the address it returns. Port 0 alone means \"any free port\".")
    static let listenerReuse = Hint("listener-reuse", "Set SO_REUSEADDR to 1 before bind, as in lesson 2: a restarted server must get its port back while old connections linger in TIME_WAIT.")
    static let listenerBacklog = Hint("listener-backlog", "Pass the backlog you were given to listen(fd, backlog).")
    static let mappedPeer = Hint("mapped-peer", "An IPv4 client of an IPv6 socket shows as ::ffff:a.b.c.d (an IPv4-mapped address). Report it as the IPv4 address it is: .ipv4(host: \"a.b.c.d\", port: ...), and every other IPv6 peer as .ipv6.")
    static let peerNumeric = Hint("peer-numeric", "Ask getnameinfo for NI_NUMERICHOST | NI_NUMERICSERV: the address and port as numbers, read from getpeername's sockaddr_storage with the length it returned. Never a name: a reverse lookup may go to the network and take seconds.")
}
