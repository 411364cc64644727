// Known-good: dictionaries keyed by descriptor, reads sized by ioctl FIONREAD, outgoing chunks sent with writev, one line per client per poll round (poll timeout 0 while whole lines wait); a client with Data buffers that drops the keyboard from its poll array at end of input
// Lesson 8: the capstone: a chat server on lesson 7's event loop, and its client.
import Foundation
import SocketKit

private enum Item {
    case line([UInt8])
    case tooLong
}

private struct Chat {
    let maxLine: Int
    let maxQueued: Int
    var order: [Int32] = []
    var names: [Int32: String] = [:]
    /// The unfinished line of each client.
    var inbound: [Int32: [UInt8]] = [:]
    /// What each client sent, not handled yet.
    var items: [Int32: [Item]] = [:]
    var chunks: [Int32: [[UInt8]]] = [:]
    var queued: [Int32: Int] = [:]
    var skipping: Set<Int32> = []
    var quitting: Set<Int32> = []

    mutating func add(_ fd: Int32) {
        order.append(fd)
        inbound[fd] = []
        chunks[fd] = []
        queued[fd] = 0
    }

    func here(_ fd: Int32) -> Bool { inbound[fd] != nil }

    mutating func remove(_ fd: Int32) {
        guard here(fd) else { return }
        order.removeAll { $0 == fd }
        inbound[fd] = nil
        items[fd] = nil
        chunks[fd] = nil
        queued[fd] = nil
        skipping.remove(fd)
        quitting.remove(fd)
        _ = close(fd)
        if let name = names.removeValue(forKey: fd) { announce("* \(name) left\n", except: fd) }
    }

    mutating func put(_ text: String, _ fd: Int32) {
        guard here(fd), !(quitting.contains(fd) && text != "bye\n") else { return }
        let bytes = Array(text.utf8)
        guard queued[fd, default: 0] + bytes.count <= maxQueued else { return remove(fd) }
        chunks[fd, default: []].append(bytes)
        queued[fd, default: 0] += bytes.count
    }

    mutating func announce(_ text: String, except: Int32) {
        for fd in order where fd != except && names[fd] != nil { put(text, fd) }
    }

    /// Takes in what arrived: whole lines become items, a line that passes maxLine becomes a
    /// "too long" item at once (before its "\n" comes), and the rest of it is skipped.
    mutating func take(_ bytes: ArraySlice<UInt8>, from fd: Int32) {
        guard here(fd), !quitting.contains(fd) else { return }
        var rest = bytes
        while !rest.isEmpty {
            if skipping.contains(fd) {
                guard let end = rest.firstIndex(of: 10) else { return }
                skipping.remove(fd)
                rest = rest[(end + 1)...]
                continue
            }
            guard let end = rest.firstIndex(of: 10) else {
                inbound[fd, default: []] += rest
                if inbound[fd, default: []].count > maxLine {
                    inbound[fd] = []
                    skipping.insert(fd)
                    items[fd, default: []].append(.tooLong)
                }
                return
            }
            let line = inbound[fd, default: []] + rest[..<end]
            inbound[fd] = []
            items[fd, default: []].append(line.count > maxLine ? .tooLong : .line(line))
            rest = rest[(end + 1)...]
        }
    }

    func hasLine(_ fd: Int32) -> Bool { items[fd]?.isEmpty == false && !quitting.contains(fd) }

    /// Handles the first thing `fd` sent that is not handled yet.
    mutating func nextLine(_ fd: Int32) {
        guard hasLine(fd), let item = items[fd]?.removeFirst() else { return }
        guard case .line(var line) = item else { return put("error: line too long\n", fd) }
        if line.last == 13 { line.removeLast() }
        guard let text = String(validating: line, as: UTF8.self) else { return put("error: not UTF-8\n", fd) }
        let words = text.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
        if text.hasPrefix("/") {
            switch words[0] {
            case "/nick": nick(fd, words.count == 2 ? String(words[1]) : "")
            case "/who":
                guard names[fd] != nil else { return put("error: pick a nickname first with /nick NAME\n", fd) }
                let sorted = names.values.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                put("who: \(sorted.joined(separator: ", "))\n", fd)
            case "/quit":
                if let name = names.removeValue(forKey: fd) { announce("* \(name) left\n", except: fd) }
                put("bye\n", fd)
                quitting.insert(fd)
                items[fd] = []
            default: put("error: unknown command\n", fd)
            }
        } else if let name = names[fd] {
            announce("\(name): \(text)\n", except: fd)
        } else {
            put("error: pick a nickname first with /nick NAME\n", fd)
        }
    }

    mutating func nick(_ fd: Int32, _ wanted: String) {
        let valid = !wanted.isEmpty && wanted.utf8.count <= 16 && wanted.unicodeScalars.allSatisfy {
            $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
        }
        guard valid else { return put("error: bad nickname\n", fd) }
        if names[fd] == wanted { return put("ok, now \(wanted)\n", fd) }
        guard !names.values.contains(wanted) else { return put("error: nickname taken\n", fd) }
        let old = names.updateValue(wanted, forKey: fd)
        put(old == nil ? "welcome \(wanted)\n" : "ok, now \(wanted)\n", fd)
        announce(old.map { "* \($0) is now \(wanted)\n" } ?? "* \(wanted) joined\n", except: fd)
    }

    /// writev as many queued chunks as the socket takes.
    mutating func flush(_ fd: Int32) {
        while let list = chunks[fd], !list.isEmpty {
            let batch = Array(list.prefix(16))
            let sent = withIOVecs(batch[...], []) { vectors in vectors.withUnsafeBufferPointer { writev(fd, $0.baseAddress, Int32($0.count)) } }
            if sent < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                return remove(fd)
            }
            var left = sent
            var rest = list
            while left > 0, let first = rest.first {
                if first.count <= left {
                    left -= first.count
                    rest.removeFirst()
                } else {
                    rest[0] = Array(first[left...])
                    left = 0
                }
            }
            chunks[fd] = rest
            queued[fd, default: 0] -= sent
        }
        if quitting.contains(fd) { remove(fd) }
    }
}

private func withIOVecs(_ chunks: ArraySlice<[UInt8]>, _ vectors: [iovec], _ body: ([iovec]) -> Int) -> Int {
    guard let first = chunks.first else { return body(vectors) }
    return first.withUnsafeBytes { raw in
        withIOVecs(chunks.dropFirst(), vectors + [iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count)], body)
    }
}

public func serveChat(_ listener: Int32, stop: Int32, maxLine: Int, maxQueued: Int) throws {
    var flag: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    if getsockopt(listener, SOL_SOCKET, SO_ACCEPTCONN, &flag, &length) != 0 { throw SocketError(call: "getsockopt") }
    if flag == 0 { throw SocketError(call: "serveChat", code: EINVAL) }
    signal(SIGPIPE, SIG_IGN)  // writev has no MSG_NOSIGNAL
    var chat = Chat(maxLine: maxLine, maxQueued: maxQueued)
    defer { for fd in chat.order { _ = close(fd) } }
    while true {
        let fds = chat.order
        var watch = [pollfd(fd: stop, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        for fd in fds {
            let out = chat.chunks[fd]?.isEmpty == false
            watch.append(pollfd(fd: fd, events: Int16(POLLIN) | (out ? Int16(POLLOUT) : 0), revents: 0))
        }
        let waiting = fds.contains(where: chat.hasLine)
        if poll(&watch, nfds_t(watch.count), waiting ? 0 : -1) < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if watch[0].revents != 0 { return }
        if watch[1].revents & Int16(POLLNVAL) != 0 { throw SocketError(call: "poll", code: EBADF) }
        if watch[1].revents != 0 {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if ![EINTR, EAGAIN, EWOULDBLOCK, ECONNABORTED].contains(errno) { throw SocketError(call: "accept") }
            } else {
                var on: Int32 = 1
                _ = ioctl(fd, UInt(FIONBIO), &on)
                chat.add(fd)
            }
        }
        for (index, fd) in fds.enumerated() where chat.here(fd) {
            if watch[index + 2].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                var available: Int32 = 0
                _ = ioctl(fd, UInt(FIONREAD), &available)
                var bytes = [UInt8](repeating: 0, count: Int(min(max(available, 1), 65_536)))
                let got = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if got > 0 {
                    chat.take(bytes[..<got], from: fd)
                } else if got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    // Gone: the whole lines it sent before still count.
                    while chat.hasLine(fd) { chat.nextLine(fd) }
                    chat.remove(fd)
                    continue
                }
            }
            chat.nextLine(fd)  // one line per client per round
        }
        for fd in chat.order { chat.flush(fd) }
    }
}

public func runChatClient(connection: Int32, input: Int32, output: Int32) throws {
    var toSend = Data()
    var keyboardOpen = true
    var scratch = Data(count: 16_384)
    var midLine = false
    while true {
        var watch = [pollfd(fd: connection, events: Int16(POLLIN) | (toSend.isEmpty ? 0 : Int16(POLLOUT)), revents: 0)]
        if keyboardOpen { watch.append(pollfd(fd: input, events: Int16(POLLIN), revents: 0)) }
        if poll(&watch, nfds_t(watch.count), -1) < 0 {
            if errno == EINTR { continue }
            throw SocketError(call: "poll")
        }
        if watch[0].revents != 0 {
            let got = scratch.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if got == 0 { return }
            if got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { throw SocketError(call: "recv") }
            var written = 0
            while got > 0 && written < got {
                let count = scratch.withUnsafeBytes { write(output, $0.baseAddress! + written, got - written) }
                if count < 0 && errno != EINTR { throw SocketError(call: "write") }
                written += max(count, 0)
            }
        }
        if keyboardOpen && watch[1].revents != 0 {
            let got = scratch.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if got > 0 {
                toSend.append(scratch.prefix(got))
                midLine = scratch[got - 1] != UInt8(ascii: "\n")
            } else if got == 0 {
                keyboardOpen = false
                if midLine { toSend.append(UInt8(ascii: "\n")) }
                toSend.append(contentsOf: Array("/quit\n".utf8))
            } else if errno != EINTR && errno != EAGAIN {
                throw SocketError(call: "read")
            }
        }
        if !toSend.isEmpty {
            let sent = toSend.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, sendNoSignal | Int32(MSG_DONTWAIT)) }
            if sent > 0 {
                toSend.removeFirst(sent)
            } else if sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                throw SocketError(call: "send")
            }
        }
    }
}
