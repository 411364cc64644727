// Known-good: a byte-at-a-time line state machine, one readable client served per poll round (in turn), O_NONBLOCK set and read back with F_GETFL, sendmsg/recvmsg with iovecs; a client driven by a state enum that reads the server with recvmsg
// Lesson 8: the capstone: a chat server on lesson 7's event loop, and its client.
import SocketKit

private final class Member {
    var nickname: String?
    var line: [UInt8] = []
    var dropping = false
    var out: [UInt8] = []
    var head = 0
    var saidBye = false
    var pending: Int { out.count - head }
}

private final class Hub {
    let maxLine: Int
    let maxQueued: Int
    var members: [Int32: Member] = [:]
    var arrival: [Int32] = []

    init(maxLine: Int, maxQueued: Int) {
        self.maxLine = maxLine
        self.maxQueued = maxQueued
    }

    func enqueue(_ text: String, for fd: Int32) {
        guard let member = members[fd], !member.saidBye else { return }
        let bytes = Array(text.utf8)
        if member.pending + bytes.count > maxQueued { return part(fd) }
        if member.head == member.out.count {
            member.out = []
            member.head = 0
        }
        member.out.append(contentsOf: bytes)
    }

    func everyone(_ text: String, but sender: Int32) {
        for fd in arrival where fd != sender && members[fd]?.nickname != nil { enqueue(text, for: fd) }
    }

    func part(_ fd: Int32) {
        guard let member = members.removeValue(forKey: fd) else { return }
        arrival.removeAll { $0 == fd }
        _ = close(fd)
        if let name = member.nickname { everyone("* \(name) left\n", but: fd) }
    }

    /// Feeds received bytes through the line machine, one at a time.
    func feed(_ bytes: UnsafeRawBufferPointer, from fd: Int32) {
        for byte in bytes {
            guard let member = members[fd], !member.saidBye else { return }
            if member.dropping {
                if byte == 10 { member.dropping = false }
            } else if byte == 10 {
                var line = member.line
                member.line = []
                if line.last == 13 { line.removeLast() }
                act(on: line, from: fd, member)
            } else {
                member.line.append(byte)
                if member.line.count > maxLine {
                    member.line = []
                    member.dropping = true
                    enqueue("error: line too long\n", for: fd)
                }
            }
        }
    }

    func act(on line: [UInt8], from fd: Int32, _ member: Member) {
        guard let text = String(validating: line, as: UTF8.self) else { return enqueue("error: not UTF-8\n", for: fd) }
        if !text.hasPrefix("/") {
            guard let name = member.nickname else { return enqueue("error: pick a nickname first with /nick NAME\n", for: fd) }
            return everyone("\(name): \(text)\n", but: fd)
        }
        let space = text.firstIndex(of: " ")
        let verb = text[..<(space ?? text.endIndex)]
        if verb == "/quit" {
            if let name = member.nickname { everyone("* \(name) left\n", but: fd) }
            member.nickname = nil
            enqueue("bye\n", for: fd)
            member.saidBye = true
        } else if verb == "/who" {
            guard member.nickname != nil else { return enqueue("error: pick a nickname first with /nick NAME\n", for: fd) }
            let all = members.values.compactMap(\.nickname).map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
            enqueue("who: " + all.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ", ") + "\n", for: fd)
        } else if verb == "/nick" {
            let wanted = space.map { String(text[text.index(after: $0)...]) } ?? ""
            let bytes = wanted.utf8.count
            let fine = bytes >= 1 && bytes <= 16 && !wanted.unicodeScalars.contains {
                !($0.properties.isAlphabetic || $0.properties.numericType == .decimal && $0.isASCII || $0 == "_" || $0 == "-")
            }
            if !fine { return enqueue("error: bad nickname\n", for: fd) }
            if member.nickname == wanted { return enqueue("ok, now \(wanted)\n", for: fd) }
            if members.values.contains(where: { $0.nickname == wanted }) { return enqueue("error: nickname taken\n", for: fd) }
            let before = member.nickname
            member.nickname = wanted
            enqueue(before == nil ? "welcome \(wanted)\n" : "ok, now \(wanted)\n", for: fd)
            everyone(before.map { "* \($0) is now \(wanted)\n" } ?? "* \(wanted) joined\n", but: fd)
        } else {
            enqueue("error: unknown command\n", for: fd)
        }
    }

    /// sendmsg from the queue; a client that has said bye leaves once it is empty.
    func drain(_ fd: Int32) {
        guard let member = members[fd] else { return }
        while member.pending > 0 {
            let (head, count) = (member.head, member.pending)
            let sent = member.out.withUnsafeMutableBytes { raw -> Int in
                var vector = iovec(iov_base: raw.baseAddress! + head, iov_len: count)
                return withUnsafeMutablePointer(to: &vector) { pointer in
                    var message = msghdr()
                    message.msg_iov = pointer
                    message.msg_iovlen = 1
                    return sendmsg(fd, &message, sendNoSignal)
                }
            }
            if sent > 0 {
                member.head += sent
            } else if sent < 0 && errno == EINTR {
                continue
            } else if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return
            } else {
                return part(fd)
            }
        }
        if member.saidBye { part(fd) }
    }
}

/// accept, then O_NONBLOCK, read back: a connection that stayed blocking is not kept.
private func acceptNonBlocking(_ listener: Int32) -> Int32 {
    let fd = accept(listener, nil, nil)
    guard fd >= 0 else { return fd }
    let flags = fcntl(fd, F_GETFL)
    guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0, fcntl(fd, F_GETFL) & O_NONBLOCK != 0 else {
        _ = close(fd)
        errno = EAGAIN
        return -1
    }
    try? suppressSIGPIPE(on: fd)
    return fd
}

/// recvmsg into `buffer`, one iovec over all of it.
private func receiveMessage(_ fd: Int32, into buffer: inout [UInt8], flags: Int32) -> Int {
    buffer.withUnsafeMutableBytes { raw -> Int in
        var vector = iovec(iov_base: raw.baseAddress, iov_len: raw.count)
        return withUnsafeMutablePointer(to: &vector) { pointer in
            var message = msghdr()
            message.msg_iov = pointer
            message.msg_iovlen = 1
            return recvmsg(fd, &message, flags)
        }
    }
}

public func serveChat(_ listener: Int32, stop: Int32, maxLine: Int, maxQueued: Int) throws {
    var listening: Int32 = 0
    var size = socklen_t(MemoryLayout.size(ofValue: listening))
    guard getsockopt(listener, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0 else { throw SocketError(call: "getsockopt") }
    guard listening != 0 else { throw SocketError(call: "serveChat", code: EINVAL) }
    let hub = Hub(maxLine: maxLine, maxQueued: maxQueued)
    defer { hub.arrival.forEach { _ = close($0) } }
    var turn = 0
    var buffer = [UInt8](repeating: 0, count: 32_768)
    while true {
        let fds = hub.arrival
        var entries = [pollfd(fd: stop, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        entries += fds.map { pollfd(fd: $0, events: Int16(POLLIN) | (hub.members[$0]!.pending > 0 ? Int16(POLLOUT) : 0), revents: 0) }
        if poll(&entries, nfds_t(entries.count), -1) == -1 {
            guard errno == EINTR else { throw SocketError(call: "poll") }
            continue
        }
        if entries[0].revents != 0 { return }
        if entries[1].revents & Int16(POLLNVAL) != 0 { throw SocketError(call: "poll", code: EBADF) }
        if entries[1].revents != 0 {
            let fd = acceptNonBlocking(listener)
            if fd >= 0 {
                hub.members[fd] = Member()
                hub.arrival.append(fd)
            } else if errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED {
                throw SocketError(call: "accept")
            }
        }
        // One readable client this round, taking turns; the others wait for the next round.
        let readable = fds.indices.filter { entries[$0 + 2].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 }
        if !readable.isEmpty {
            let fd = fds[readable[turn % readable.count]]
            turn &+= 1
            let got = receiveMessage(fd, into: &buffer, flags: 0)
            if got > 0 {
                buffer.withUnsafeBytes { hub.feed(UnsafeRawBufferPointer(rebasing: $0[..<got]), from: fd) }
            } else if got == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
                hub.part(fd)
            }
        }
        for fd in hub.arrival { hub.drain(fd) }
    }
}

private enum Phase {
    case talking
    case waitingForTheServer
}

public func runChatClient(connection: Int32, input: Int32, output: Int32) throws {
    var phase = Phase.talking
    var outgoing: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    var lastTypedByte: UInt8 = 10  // as if a line had just ended
    while true {
        var entries = [pollfd(fd: connection, events: Int16(POLLIN), revents: 0)]
        if !outgoing.isEmpty { entries[0].events |= Int16(POLLOUT) }
        if case .talking = phase { entries.append(pollfd(fd: input, events: Int16(POLLIN), revents: 0)) }
        if poll(&entries, nfds_t(entries.count), -1) == -1 {
            guard errno == EINTR else { throw SocketError(call: "poll") }
            continue
        }
        if entries[0].revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 {
            let got = receiveMessage(connection, into: &buffer, flags: Int32(MSG_DONTWAIT))
            switch got {
            case 0: return
            case ..<0 where errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK: break
            case ..<0: throw SocketError(call: "recvmsg")
            default:
                var offset = 0
                while offset < got {
                    let wrote = buffer.withUnsafeBytes { write(output, $0.baseAddress! + offset, got - offset) }
                    guard wrote >= 0 || errno == EINTR else { throw SocketError(call: "write") }
                    offset += max(0, wrote)
                }
            }
        }
        if case .talking = phase, entries[1].revents != 0 {
            let got = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if got > 0 {
                outgoing.append(contentsOf: buffer[..<got])
                lastTypedByte = buffer[got - 1]
            } else if got == 0 {
                phase = .waitingForTheServer
                if lastTypedByte != 10 { outgoing.append(10) }  // end the unfinished line
                outgoing.append(contentsOf: "/quit\n".utf8)
            } else if errno != EINTR && errno != EAGAIN {
                throw SocketError(call: "read")
            }
        }
        if !outgoing.isEmpty {
            let sent = outgoing.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, sendNoSignal | Int32(MSG_DONTWAIT)) }
            if sent > 0 {
                outgoing.removeFirst(sent)
            } else if sent < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK {
                throw SocketError(call: "send")
            }
        }
    }
}
