// Known-good: MSG_DONTWAIT sends with a short sleep (usleep) when the buffer is full, a raw pointer walked forward, the errno switch written as if/else
// Lesson 3: connect to a server and send it bytes: all of them.
import SocketKit

public func openConnection(to address: SocketAddress) throws -> Int32 {
    let fd = socket(address.family.rawValue, SocketType.stream.rawValue, 0)
    guard fd >= 0 else { throw SocketError(call: "socket") }
    let result: Int32
    do {
        result = try address.withSockAddr { connect(fd, $0, $1) }
    } catch {
        _ = close(fd)
        throw error
    }
    if result != 0 {
        let error = SocketError(call: "connect")
        _ = close(fd)
        throw error
    }
    return fd
}

public func connectEx(_ fd: Int32, to address: SocketAddress) throws -> Int32 {
    let result = try address.withSockAddr { connect(fd, $0, $1) }
    return result == 0 ? 0 : errno
}

public func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    try suppressSIGPIPE(on: fd)
    try bytes.withUnsafeBytes { raw in
        guard var next = raw.baseAddress else { return }
        var left = raw.count
        while left > 0 {
            let written = send(fd, next, left, sendNoSignal | Int32(MSG_DONTWAIT))
            if written > 0 {
                next += written
                left -= written
            } else if written == 0 {
                continue
            } else {
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK {
                    usleep(2_000)  // the buffer is full: give the peer 2 ms to read
                } else if code != EINTR {
                    throw SocketError(call: "send", code: code)
                }
            }
        }
    }
}

public func sendText(_ fd: Int32, _ text: String) throws {
    let bytes = [UInt8](text.utf8)
    try sendAll(fd, bytes)
}
