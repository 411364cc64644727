// Known-good: red team: every connection's SO_SNDBUF raised to 256 KB (the kernel then holds far more for a client that does not read) with TCP_NODELAY, nicknames kept in a Set beside the members, a client that reads in 16- and 100-byte pieces
// Lesson 8: the capstone: a chat server on lesson 7's event loop, and its client.
import Foundation
import SocketKit

/// Runs the chat server on `listener` until `stop` (the read end of a pipe) becomes readable.
/// (The full contract is in Exercises/Lesson08/Chat.swift.)
public func serveChat(_ listener: Int32, stop: Int32, maxLine: Int, maxQueued: Int) throws {
    try requireListening(listener)
    var room = ChatRoom(maxLine: max(maxLine, 1), maxQueued: max(maxQueued, 1))
    defer { room.closeEveryone() }
    var buffer = [UInt8](repeating: 0, count: 65_536)

    while true {
        let order = room.descriptors
        var entries = [
            pollfd(fd: stop, events: Int16(POLLIN), revents: 0),
            pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
        ]
        for fd in order {
            entries.append(pollfd(fd: fd, events: Int16(POLLIN) | (room.hasQueued(fd) ? Int16(POLLOUT) : 0), revents: 0))
        }
        if poll(&entries, nfds_t(entries.count), -1) < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if entries[0].revents != 0 { return }
        if entries[1].revents & Int16(POLLNVAL) != 0 {
            errno = EBADF
            throw SocketError(call: "poll")
        }
        if entries[1].revents != 0 {
            let connection = accept(listener, nil, nil)
            if connection >= 0 {
                let flags = fcntl(connection, F_GETFL)
                if flags < 0 || fcntl(connection, F_SETFL, flags | O_NONBLOCK) < 0 {
                    _ = close(connection)
                } else {
                    try? suppressSIGPIPE(on: connection)
                    var big: Int32 = 262_144
                    var on: Int32 = 1
                    _ = setsockopt(connection, SOL_SOCKET, SO_SNDBUF, &big, socklen_t(MemoryLayout<Int32>.size))
                    _ = setsockopt(connection, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
                    room.join(connection)
                }
            } else if ![EINTR, EAGAIN, EWOULDBLOCK, ECONNABORTED].contains(errno) {
                throw SocketError(call: "accept")
            }
        }
        for (index, fd) in order.enumerated() {
            let events = entries[index + 2].revents
            guard events != 0, room.isHere(fd) else { continue }
            if events & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if got > 0 {
                    room.received(Array(buffer.prefix(got)), from: fd)
                } else if got == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
                    room.leave(fd)
                    continue
                }
            }
            room.flush(fd)
        }
        // Everyone a message was queued for this round: try to send now.
        for fd in room.descriptors { room.flush(fd) }
    }
}

/// The server's state: who is connected, under which name, what each has half-sent and
/// what is queued for each.
private struct ChatRoom {
    struct Member {
        var name: String?
        var incoming: [UInt8] = []
        var outgoing: [UInt8] = []
        /// Dropping the rest of a line that was too long, up to its "\n".
        var skipping = false
        /// Leaving once its queue is sent (after /quit).
        var quitting = false
    }

    let maxLine: Int
    let maxQueued: Int
    private var members: [Int32: Member] = [:]
    /// Every nickname in use.
    private var taken: Set<String> = []
    /// The order of arrival: broadcasts go out in a stable order.
    private(set) var descriptors: [Int32] = []

    init(maxLine: Int, maxQueued: Int) {
        self.maxLine = maxLine
        self.maxQueued = maxQueued
    }

    func isHere(_ fd: Int32) -> Bool { members[fd] != nil }
    func hasQueued(_ fd: Int32) -> Bool { !(members[fd]?.outgoing.isEmpty ?? true) }

    mutating func join(_ fd: Int32) {
        members[fd] = Member()
        descriptors.append(fd)
    }

    /// Closes `fd` and, if it had a name, tells the others.
    mutating func leave(_ fd: Int32) {
        guard let member = members.removeValue(forKey: fd) else { return }
        if let name = member.name { taken.remove(name) }
        descriptors.removeAll { $0 == fd }
        _ = close(fd)
        if let name = member.name { broadcast("* \(name) left\n", except: fd) }
    }

    mutating func closeEveryone() {
        for fd in descriptors { _ = close(fd) }
        members = [:]
        descriptors = []
    }

    /// New bytes from `fd`: every whole line in them is handled; the rest waits.
    mutating func received(_ bytes: [UInt8], from fd: Int32) {
        guard members[fd]?.quitting == false else { return }  // after /quit: ignored
        members[fd]?.incoming += bytes
        while let member = members[fd], !member.quitting, let newline = member.incoming.firstIndex(of: 10) {
            var line = Array(member.incoming[..<newline])
            members[fd]?.incoming.removeSubrange(...newline)
            if member.skipping {
                members[fd]?.skipping = false  // the end of a line already answered
                continue
            }
            // Its length counts every byte before the "\n", a "\r" included.
            guard line.count <= maxLine else {
                send("error: line too long\n", to: fd)
                continue
            }
            if line.last == 13 { line.removeLast() }
            handle(line, from: fd)
        }
        if members[fd]?.quitting == true {
            members[fd]?.incoming = []
            return
        }
        // No "\n" yet, and already too long: answer now, drop what came, skip to the "\n".
        if let member = members[fd], !member.skipping, member.incoming.count > maxLine {
            members[fd]?.incoming = []
            members[fd]?.skipping = true
            send("error: line too long\n", to: fd)
        } else if members[fd]?.skipping == true {
            members[fd]?.incoming = []
        }
    }

    private mutating func handle(_ line: [UInt8], from fd: Int32) {
        guard let text = String(validating: line, as: UTF8.self) else { return send("error: not UTF-8\n", to: fd) }
        let name = members[fd]?.name
        if text.hasPrefix("/") {
            let parts = text.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            switch parts[0] {
            case "/nick": rename(fd, to: parts.count > 1 ? String(parts[1]) : "", from: name)
            case "/who":
                guard name != nil else { return send("error: pick a nickname first with /nick NAME\n", to: fd) }
                let names = taken.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                send("who: \(names.joined(separator: ", "))\n", to: fd)
            case "/quit":
                // Gone for everyone at once: announced now, sent nothing more but "bye".
                members[fd]?.quitting = true
                members[fd]?.name = nil
                if let name { taken.remove(name) }
                if let name { broadcast("* \(name) left\n", except: fd) }
                send("bye\n", to: fd)
            default: send("error: unknown command\n", to: fd)
            }
            return
        }
        guard let name else { return send("error: pick a nickname first with /nick NAME\n", to: fd) }
        broadcast("\(name): \(text)\n", except: fd)
    }

    private mutating func rename(_ fd: Int32, to wanted: String, from old: String?) {
        let allowed = !wanted.isEmpty && wanted.utf8.count <= 16
            && wanted.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
        guard allowed else { return send("error: bad nickname\n", to: fd) }
        if wanted == old { return send("ok, now \(wanted)\n", to: fd) }
        guard !taken.contains(wanted) else { return send("error: nickname taken\n", to: fd) }
        if let old { taken.remove(old) }
        taken.insert(wanted)
        members[fd]?.name = wanted
        if let old {
            send("ok, now \(wanted)\n", to: fd)
            broadcast("* \(old) is now \(wanted)\n", except: fd)
        } else {
            send("welcome \(wanted)\n", to: fd)
            broadcast("* \(wanted) joined\n", except: fd)
        }
    }

    /// To every named member but `sender`.
    private mutating func broadcast(_ text: String, except sender: Int32) {
        for fd in descriptors where fd != sender && members[fd]?.name != nil { send(text, to: fd) }
    }

    /// Queues `text` for `fd`; a member whose queue would pass maxQueued is dropped.
    private mutating func send(_ text: String, to fd: Int32) {
        guard members[fd] != nil else { return }
        let bytes = Array(text.utf8)
        if members[fd]!.outgoing.count + bytes.count > maxQueued {
            leave(fd)  // it does not read: never let it hold the others up
            return
        }
        members[fd]!.outgoing += bytes
    }

    /// Sends what is queued for `fd`, as much as the socket takes now.
    mutating func flush(_ fd: Int32) {
        guard let member = members[fd] else { return }
        if !member.outgoing.isEmpty {
            let sent = member.outgoing.withUnsafeBytes { SocketKit.send(fd, $0.baseAddress, $0.count, sendNoSignal) }
            if sent > 0 {
                members[fd]?.outgoing.removeFirst(sent)
            } else if sent < 0, errno != EINTR, errno != EAGAIN, errno != EWOULDBLOCK {
                leave(fd)
                return
            }
        }
        if let member = members[fd], member.quitting, member.outgoing.isEmpty { leave(fd) }
    }
}

/// The chat client: what is typed on `input` goes to the server on `connection`, what the
/// server sends is written to `output`, both at once.
/// (The full contract is in Exercises/Lesson08/Chat.swift.)
public func runChatClient(connection: Int32, input: Int32, output: Int32) throws {
    var toServer: [UInt8] = []
    var inputOpen = true
    var buffer = [UInt8](repeating: 0, count: 100)
    try? suppressSIGPIPE(on: connection)
    var endsLine = true
    while true {
        var entries = [
            pollfd(fd: connection, events: Int16(POLLIN) | (toServer.isEmpty ? 0 : Int16(POLLOUT)), revents: 0),
            pollfd(fd: inputOpen ? input : -1, events: Int16(POLLIN), revents: 0),  // -1: poll skips it
        ]
        if poll(&entries, 2, -1) < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if entries[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            let got = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if got == 0 { return }  // the server closed: done
            if got < 0, errno != EINTR, errno != EAGAIN, errno != EWOULDBLOCK { throw SocketError(call: "recv") }
            if got > 0 { try writeAll(output, Array(buffer.prefix(got))) }
        }
        if inputOpen, entries[1].revents != 0 {
            let got = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, 16) }
            if got > 0 {
                toServer += buffer.prefix(got)
                endsLine = buffer[got - 1] == 10
            } else if got == 0 {
                inputOpen = false
                toServer += Array((endsLine ? "/quit\n" : "\n/quit\n").utf8)
            } else if errno != EINTR, errno != EAGAIN {
                throw SocketError(call: "read")
            }
        }
        if !toServer.isEmpty {
            let sent = toServer.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, sendNoSignal | Int32(MSG_DONTWAIT)) }
            if sent > 0 {
                toServer.removeFirst(sent)
            } else if sent < 0, errno != EINTR, errno != EAGAIN, errno != EWOULDBLOCK {
                throw SocketError(call: "send")
            }
        }
    }
}

/// Writes every byte to `fd` (the terminal, or a pipe): short writes carry on.
private func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    var written = 0
    while written < bytes.count {
        let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
        if count < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN {
                var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&entry, 1, 1000)
                continue
            }
            throw SocketError(call: "write")
        }
        written += count
    }
}

/// Throws unless `fd` is a listening socket: poll on anything else waits for ever.
private func requireListening(_ fd: Int32) throws {
    var listening: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 else { throw SocketError(call: "getsockopt") }
    guard listening != 0 else { throw SocketError(call: "listen", code: EINVAL) }
}
