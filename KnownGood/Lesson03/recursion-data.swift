// Known-good: recursion over the unsent rest held in Foundation's Data (withUnsafeBytes), openConnection built on connectEx
// Lesson 3: connect to a server and send it bytes: all of them.
import Foundation
import SocketKit

/// Opens a TCP connection to `address`: a socket, then connectEx's answer turned into an error.
public func openConnection(to address: SocketAddress) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    let code: Int32
    do {
        code = try connectEx(fd, to: address)
    } catch {
        _ = close(fd)
        throw error
    }
    guard code == 0 else {
        _ = close(fd)
        throw SocketError(call: "connect", code: code)
    }
    return fd
}

/// connect_ex: the failure is the answer.
public func connectEx(_ fd: Int32, to address: SocketAddress) throws -> Int32 {
    var code: Int32 = 0
    try address.withSockAddr { pointer, length in
        if connect(fd, pointer, length) != 0 { code = errno }
    }
    return code
}

/// Every byte: send what is left, then the rest of what is left.
public func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    try suppressSIGPIPE(on: fd)
    try sendRest(fd, Data(bytes))
}

private func sendRest(_ fd: Int32, _ rest: Data) throws {
    if rest.isEmpty { return }
    let written = rest.withUnsafeBytes { raw in send(fd, raw.baseAddress, raw.count, sendNoSignal) }
    if written >= 0 {
        return try sendRest(fd, rest.dropFirst(written))
    }
    let failure = SocketError(call: "send")
    if failure.code == EAGAIN || failure.code == EWOULDBLOCK {
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&entry, 1, 10_000) > 0 else { throw failure }
    } else if failure.code != EINTR {
        throw failure
    }
    try sendRest(fd, rest)
}

/// The text as UTF-8 Data.
public func sendText(_ fd: Int32, _ text: String) throws {
    try sendAll(fd, [UInt8](Data(text.utf8)))
}
