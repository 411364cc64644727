// Known-good: a class per client, read()/write() on the server's sockets (SIGPIPE ignored process-wide), a hand-written UTF-8 validator, Character.isLetter for nicknames, queues drained by an offset
// Lesson 8: the capstone: a chat server on lesson 7's event loop, and its client.
import Foundation
import SocketKit

private final class Peer {
    let fd: Int32
    var name: String?
    var inbox: [UInt8] = []
    var scanned = 0  // bytes of inbox already searched for "\n"
    var dropping = false  // inside a line that was too long
    var outbox: [UInt8] = []
    var sentUpTo = 0  // bytes of outbox already written
    var leaving = false  // "bye" queued: close once written
    init(fd: Int32) { self.fd = fd }
    var owed: Int { outbox.count - sentUpTo }
}

private final class Room {
    let maxLine: Int
    let maxQueued: Int
    var peers: [Peer] = []
    init(maxLine: Int, maxQueued: Int) {
        self.maxLine = maxLine
        self.maxQueued = maxQueued
    }

    func named(except: Peer?) -> [Peer] { peers.filter { $0 !== except && $0.name != nil } }

    func queue(_ text: String, to peer: Peer) {
        guard peers.contains(where: { $0 === peer }) else { return }
        let bytes = Array(text.utf8)
        if peer.owed + bytes.count > maxQueued {
            drop(peer)
            return
        }
        if peer.sentUpTo > 0 && (peer.sentUpTo == peer.outbox.count || peer.sentUpTo > 65_536) {
            peer.outbox.removeFirst(peer.sentUpTo)
            peer.sentUpTo = 0
        }
        peer.outbox += bytes
    }

    func tell(_ text: String, except: Peer?) {
        for peer in named(except: except) { queue(text, to: peer) }
    }

    func drop(_ peer: Peer) {
        guard let index = peers.firstIndex(where: { $0 === peer }) else { return }
        peers.remove(at: index)
        _ = close(peer.fd)
        if let name = peer.name { tell("* \(name) left\n", except: nil) }
    }

    func write(_ peer: Peer) {
        while peer.owed > 0 {
            let count = peer.outbox.withUnsafeBytes { SocketKit.write(peer.fd, $0.baseAddress! + peer.sentUpTo, peer.owed) }
            if count > 0 {
                peer.sentUpTo += count
            } else if count < 0 && errno == EINTR {
                continue
            } else if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return
            } else {
                drop(peer)
                return
            }
        }
        if peer.leaving { drop(peer) }
    }

    func read(_ peer: Peer) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let count = chunk.withUnsafeMutableBytes { SocketKit.read(peer.fd, $0.baseAddress, $0.count) }
        if count < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) { return }
        guard count > 0 else { return drop(peer) }
        if peer.leaving { return }
        peer.inbox += chunk[0..<count]
        while peers.contains(where: { $0 === peer }), !peer.leaving {
            guard let newline = peer.inbox[peer.scanned...].firstIndex(of: 10) else {
                peer.scanned = peer.inbox.count
                if peer.dropping {
                    peer.inbox.removeAll()
                    peer.scanned = 0
                } else if peer.inbox.count > maxLine {
                    peer.inbox.removeAll()
                    peer.scanned = 0
                    peer.dropping = true
                    queue("error: line too long\n", to: peer)
                }
                return
            }
            let line = Array(peer.inbox[..<newline])
            peer.inbox.removeSubrange(...newline)
            peer.scanned = 0
            if peer.dropping {
                peer.dropping = false
            } else if line.count > maxLine {
                queue("error: line too long\n", to: peer)
            } else {
                handle(line.last == 13 ? Array(line.dropLast()) : line, from: peer)
            }
        }
    }

    func handle(_ line: [UInt8], from peer: Peer) {
        guard isUTF8(line) else { return queue("error: not UTF-8\n", to: peer) }
        let text = String(decoding: line, as: UTF8.self)
        guard text.first == "/" else {
            guard let name = peer.name else { return queue("error: pick a nickname first with /nick NAME\n", to: peer) }
            return tell("\(name): \(text)\n", except: peer)
        }
        let command = text.prefix { $0 != " " }
        switch command {
        case "/nick":
            let wanted = text.count > 5 ? String(text.dropFirst(6)) : ""
            rename(peer, wanted)
        case "/who":
            guard peer.name != nil else { return queue("error: pick a nickname first with /nick NAME\n", to: peer) }
            let names = peers.compactMap(\.name).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            queue("who: " + names.joined(separator: ", ") + "\n", to: peer)
        case "/quit":
            if let name = peer.name {
                peer.name = nil
                tell("* \(name) left\n", except: peer)
            }
            queue("bye\n", to: peer)
            peer.leaving = true
            peer.inbox = []
        default:
            queue("error: unknown command\n", to: peer)
        }
    }

    func rename(_ peer: Peer, _ wanted: String) {
        let good = (1...16).contains(wanted.utf8.count) && wanted.allSatisfy { $0.isLetter || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
        guard good else { return queue("error: bad nickname\n", to: peer) }
        if peer.name == wanted { return queue("ok, now \(wanted)\n", to: peer) }
        if peers.contains(where: { $0.name == wanted }) { return queue("error: nickname taken\n", to: peer) }
        let old = peer.name
        peer.name = wanted
        if let old {
            queue("ok, now \(wanted)\n", to: peer)
            tell("* \(old) is now \(wanted)\n", except: peer)
        } else {
            queue("welcome \(wanted)\n", to: peer)
            tell("* \(wanted) joined\n", except: peer)
        }
    }
}

/// Valid UTF-8: no stray continuation bytes, no overlong forms, no surrogates, nothing past U+10FFFF.
private func isUTF8(_ bytes: [UInt8]) -> Bool {
    var index = 0
    while index < bytes.count {
        let lead = bytes[index]
        let length: Int
        var lowest: UInt32
        switch lead {
        case 0x00...0x7F: index += 1; continue
        case 0xC2...0xDF: length = 2; lowest = 0x80
        case 0xE0...0xEF: length = 3; lowest = 0x800
        case 0xF0...0xF4: length = 4; lowest = 0x10000
        default: return false
        }
        guard index + length <= bytes.count else { return false }
        var value = UInt32(lead) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
        for next in bytes[(index + 1)..<(index + length)] {
            guard next & 0xC0 == 0x80 else { return false }
            value = value << 6 | UInt32(next & 0x3F)
        }
        guard value >= lowest, value <= 0x10FFFF, !(0xD800...0xDFFF).contains(value) else { return false }
        lowest = 0
        index += length
    }
    return true
}

public func serveChat(_ listener: Int32, stop: Int32, maxLine: Int, maxQueued: Int) throws {
    var accepting: Int32 = 0
    var size = socklen_t(4)
    guard getsockopt(listener, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &size) == 0 else { throw SocketError(call: "getsockopt") }
    guard accepting == 1 else { throw SocketError(call: "listen", code: EINVAL) }
    signal(SIGPIPE, SIG_IGN)
    let room = Room(maxLine: maxLine, maxQueued: maxQueued)
    defer { for peer in room.peers { _ = close(peer.fd) } }
    while true {
        let watched = room.peers
        var fds = [pollfd(fd: stop, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        fds += watched.map { pollfd(fd: $0.fd, events: Int16(POLLIN) | ($0.owed > 0 ? Int16(POLLOUT) : 0), revents: 0) }
        guard poll(&fds, nfds_t(fds.count), -1) >= 0 else {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if fds[0].revents != 0 { return }
        if fds[1].revents & Int16(POLLNVAL | POLLERR) != 0 { throw SocketError(call: "poll", code: EBADF) }
        if fds[1].revents & Int16(POLLIN) != 0 {
            let fd = accept(listener, nil, nil)
            if fd >= 0 {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                room.peers.append(Peer(fd: fd))
            } else if errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED {
                throw SocketError(call: "accept")
            }
        }
        for (peer, entry) in zip(watched, fds.dropFirst(2)) where room.peers.contains(where: { $0 === peer }) {
            if entry.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { room.read(peer) }
        }
        for peer in room.peers where peer.owed > 0 || peer.leaving { room.write(peer) }
    }
}

public func runChatClient(connection: Int32, input: Int32, output: Int32) throws {
    signal(SIGPIPE, SIG_IGN)
    var pending: [UInt8] = []
    var typing = true
    var chunk = [UInt8](repeating: 0, count: 8192)
    var lineOpen = false  // the last byte typed was not a newline
    while true {
        var fds = [
            pollfd(fd: connection, events: Int16(POLLIN) | (pending.isEmpty ? 0 : Int16(POLLOUT)), revents: 0),
            pollfd(fd: typing ? input : -1, events: Int16(POLLIN), revents: 0),
        ]
        guard poll(&fds, 2, -1) >= 0 else {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            let count = chunk.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
            if count == 0 { return }
            if count < 0 {
                if errno != EINTR && errno != EAGAIN { throw SocketError(call: "read") }
            } else {
                var done = 0
                while done < count {
                    let wrote = chunk.withUnsafeBytes { write(output, $0.baseAddress! + done, count - done) }
                    if wrote < 0 {
                        if errno == EINTR { continue }
                        throw SocketError(call: "write")
                    }
                    done += wrote
                }
            }
        }
        if typing && fds[1].revents != 0 {
            let count = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count > 0 {
                pending += chunk[0..<count]
                lineOpen = chunk[count - 1] != 10
            } else if count == 0 {
                typing = false
                pending += Array((lineOpen ? "\n/quit\n" : "/quit\n").utf8)
            } else if errno != EINTR && errno != EAGAIN {
                throw SocketError(call: "read")
            }
        }
        if !pending.isEmpty && fds[0].revents & Int16(POLLOUT) != 0 {
            // The caller's socket is blocking: MSG_DONTWAIT, so a full buffer never waits.
            let wrote = pending.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, sendNoSignal | Int32(MSG_DONTWAIT)) }
            if wrote > 0 {
                pending.removeFirst(wrote)
            } else if wrote < 0 && errno != EINTR && errno != EAGAIN {
                throw SocketError(call: "write")
            }
        }
    }
}
