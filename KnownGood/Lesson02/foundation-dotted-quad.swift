// Known-good: Foundation imported, the dotted quad parsed by hand (split, UInt8) into network-order bytes, every step in one do/catch that closes, options set through a small typed helper, accept retried only on EINTR in a while loop.
import Foundation
import SocketKit

/// "a.b.c.d" with each part 0...255, as the four bytes of an in_addr (network order), or nil.
private func parseIPv4(_ text: String) -> in_addr? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    var bytes: [UInt8] = []
    for part in parts {
        guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }), let byte = UInt8(part) else { return nil }
        bytes.append(byte)
    }
    var address = in_addr()
    withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
    return address
}

private func setFlag(_ fd: Int32, _ level: Int32, _ name: Int32, _ on: Bool) throws {
    var value: Int32 = on ? 1 : 0
    guard setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
        throw SocketError(call: "setsockopt")
    }
}

public func makeListener(host: String, port: UInt16, backlog: Int32 = 16) throws -> Int32 {
    let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    do {
        try setFlag(fd, SOL_SOCKET, SO_REUSEADDR, true)
        guard let parsed = parseIPv4(host) else { throw SocketError(call: "inet_pton", code: EINVAL) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr = parsed
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw SocketError(call: "bind") }
        guard listen(fd, backlog) == 0 else { throw SocketError(call: "listen") }
        return fd
    } catch {
        close(fd)
        throw error
    }
}

public func acceptConnection(on listener: Int32) throws -> (connection: Int32, peer: SocketAddress) {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    var connection: Int32 = -1
    while true {
        length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        connection = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener, $0, &length) }
        }
        if connection >= 0 { break }
        let error = SocketError(call: "accept")
        guard error.code == EINTR else { throw error }
    }
    do {
        return (connection, try SocketAddress(storage: storage, length: length))
    } catch {
        close(connection)
        throw error
    }
}

public func boundAddress(of fd: Int32) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let status = withUnsafeMutableBytes(of: &storage) { raw in
        getsockname(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
    }
    if status != 0 { throw SocketError(call: "getsockname") }
    return try SocketAddress(storage: storage, length: length)
}
