import Foundation
import GradingHarness
import Lesson08
import SocketKit
import XCTest

/// Grades Exercises/Lesson08/Chat.swift: the chat server (serveChat) against chat clients
/// the harness plays over loopback, and the chat client (runChatClient) against a server the
/// harness plays, with a keyboard and a screen made of pipes. Client counts, nicknames
/// (Chinese, other scripts, exactly 16 bytes), message texts, the points where lines are cut
/// between sends, maxLine and maxQueued come from the check's seed. Nothing the learner's code
/// says about itself is trusted: what each client receives, the order, the descriptors left
/// open and the processor time of the learner's thread are measured.
///
/// Most "nothing else was sent" conclusions need no sleep: after the event, one client
/// sends a message and the next line every other client receives must be that message
/// (`ChatScene.sync`); a client without a nickname proves it received nothing by taking one
/// and getting "welcome" as its very first line.
final class Lesson08ChatGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(8)
    }

    private static func chatServer(_ probe: Probe, maxLine: Int = 4096, maxQueued: Int = 1 << 20, sendBuffer: Int32? = nil) throws -> ChatScene {
        try ChatScene(probe, sendBuffer: sendBuffer) { listener, stop in
            try serveChat(listener, stop: stop, maxLine: maxLine, maxQueued: maxQueued)
        }
    }

    /// Clients without a nickname take one each: each one's very first line must be its
    /// welcome. A broadcast that reached it while it had no nickname would come first.
    private static func expectHeardNothingWhileUnnamed(_ scene: ChatScene, _ clients: [ChatClient], names: [String]) throws {
        for (client, name) in zip(clients, names) {
            try scene.join(client, as: name) { next in
                guard let line = next.line, !line.hasPrefix("welcome "), !line.hasPrefix("error: ") else { return nil }
                return .chatUnnamedReceive
            }
        }
    }

    // MARK: serveChat: joining, messages

    // Each first /nick is answered "welcome NAME" and announced to every other named client,
    // as the next line each receives; the joiner is not told of itself; clients without a
    // nickname hear none of it.
    func test1_welcomeAndJoinAnnouncements() throws {
        try grade {
            let probe = Probe("serveChat(_:stop:maxLine:maxQueued:) answers a first /nick with \"welcome NAME\", tells every other named client \"* NAME joined\", and tells clients without a nickname nothing")
            let count = probe.random.int(in: 2...6)
            let unnamedCount = probe.random.int(in: 1...2)
            let names = ChatInputs.names(count + unnamedCount, probe.random)
            let scene = try Self.chatServer(probe)
            defer { scene.tearDown() }
            probe.transcript.note("\(unnamedCount) client(s) connect and say nothing; then \(count) clients take the nicknames \(names.prefix(count).map { "\"\($0)\"" }.joined(separator: ", ")), one after the other")
            let unnamed = try (0..<unnamedCount).map { _ in try scene.connect() }
            _ = try scene.connectAndJoin(Array(names.prefix(count)))
            try scene.sync("\(count) clients joined", fallback: .chatJoinAnnounced)
            try Self.expectHeardNothingWhileUnnamed(scene, unnamed, names: Array(names.dropFirst(count)))
        }
    }

    // Whole lines, several to a send, the clients' sends interleaved: every named client but
    // the sender gets each message once, each sender's in order, all in one order; clients
    // without a nickname get none.
    func test2_messagesReachEveryOtherNamedClientOnce() throws {
        try grade {
            let probe = Probe("serveChat(_:stop:maxLine:maxQueued:) sends each message to every other named client once, as \"NAME: TEXT\", in the order it read them; never back to the sender, never to a client without a nickname")
            let count = probe.random.int(in: 3...6)
            let unnamedCount = probe.random.int(in: 1...2)
            let names = ChatInputs.names(count + unnamedCount, probe.random)
            let scene = try Self.chatServer(probe)
            defer { scene.tearDown() }
            let unnamed = try (0..<unnamedCount).map { _ in try scene.connect() }
            let clients = try scene.connectAndJoin(Array(names.prefix(count)))
            // Each client's messages, grouped into sends of one to three whole lines.
            var plan: [ChatScene.Planned] = []
            var sends: [(client: ChatClient, bytes: [UInt8])] = []
            var queues: [[[UInt8]]] = []
            // One client sends an empty line (a message too), one a text with spaces at both ends.
            let (empty, padded) = (probe.random.int(in: 0...(count - 1)), probe.random.int(in: 0...(count - 1)))
            for (index, client) in clients.enumerated() {
                var texts = (0..<probe.random.int(in: 2...6)).map { ChatInputs.text(probe.random, tag: "[c\(index + 1)m\($0 + 1)]") }
                if index == empty { texts.insert("", at: probe.random.int(in: 0...texts.count)) }
                if index == padded { texts.insert("  [c\(index + 1) padded] ", at: probe.random.int(in: 0...texts.count)) }
                var notFirst = Set<Int>()
                var groups: [[UInt8]] = []
                var next = 0
                while next < texts.count {
                    let size = min(probe.random.int(in: 1...3), texts.count - next)
                    groups.append(texts[next..<next + size].flatMap(chatLine))
                    for extra in 1..<size { notFirst.insert(next + extra) }
                    next += size
                }
                plan.append(.init(sender: client, texts: texts, notFirst: notFirst))
                queues.append(groups)
            }
            // Interleave: a seeded client sends its next group, until all have sent everything.
            while queues.contains(where: { !$0.isEmpty }) {
                let ready = queues.indices.filter { !queues[$0].isEmpty }
                let index = probe.random.pick(ready)
                sends.append((clients[index], queues[index].removeFirst()))
            }
            probe.transcript.note("\(count) named clients send \(plan.map(\.texts.count).reduce(0, +)) messages in \(sends.count) sends (one to three whole lines each), interleaved; \(unnamedCount) client(s) without a nickname listen")
            for (client, bytes) in sends { try client.send(bytes) }
            try scene.expectMessages(plan, within: 2, mangled: .chatLeftovers) { notFirstMissing in notFirstMissing ? .chatLeftovers : .chatMissing }
            try scene.sync("every message was delivered", fallback: .chatSentTwice)
            try Self.expectHeardNothingWhileUnnamed(scene, unnamed, names: Array(names.dropFirst(count)))
        }
    }

    // Lines cut at seeded points (between characters, and just before a "\n", a piece ending
    // one line and starting the next) and sent piece by piece with pauses, so the server reads
    // them over several recvs: each arrives whole. Then a line from each client cut inside a
    // Chinese character: still a valid line.
    func test3_linesSplitAcrossSendsArriveWhole() throws {
        try grade {
            let probe = Probe("serveChat(_:stop:maxLine:maxQueued:) puts together lines that arrive in pieces, over several recvs, each client's in a buffer of its own, and checks UTF-8 on whole lines")
            let count = probe.random.int(in: 2...4)
            let names = ChatInputs.names(count, probe.random)
            let scene = try Self.chatServer(probe)
            defer { scene.tearDown() }
            let clients = try scene.connectAndJoin(Array(names.prefix(count)))
            var plan: [ChatScene.Planned] = []
            var pieces: [[[UInt8]]] = []
            for (index, client) in clients.enumerated() {
                let texts = (0..<probe.random.int(in: 2...4)).map { ChatInputs.text(probe.random, tag: "张[c\(index + 1)m\($0 + 1)]") }
                let stream = texts.flatMap(chatLine)
                // Seeded cuts between characters, and always one just before a "\n" that is not the last.
                let between = stream.indices.dropFirst().filter { stream[$0] & 0xC0 != 0x80 }
                var cuts = Set((0..<probe.random.int(in: 2...5)).map { _ in probe.random.pick(between) })
                cuts.insert(probe.random.pick(stream.indices.dropLast().filter { stream[$0] == 10 }))
                let cutList = cuts.sorted()
                plan.append(.init(sender: client, texts: texts, notFirst: []))
                pieces.append(zip([0] + cutList, cutList + [stream.count]).map { Array(stream[$0..<$1]) })
            }
            probe.transcript.note("\(count) named clients send their lines in pieces (cut between characters), a piece from each in turn, 15 ms apart")
            try Self.sendInTurns(clients, pieces)
            try scene.expectMessages(plan, within: 2, mangled: .chatLinesSplit) { _ in .chatLinesSplit }
            try scene.sync("every message was delivered", fallback: .chatLinesSplit)

            // One line each, cut after the first byte of a Chinese character.
            plan = []
            pieces = []
            for (index, client) in clients.enumerated() {
                let text = ChatInputs.text(probe.random, tag: "[c\(index + 1) cut]") + " 张伟"
                let line = chatLine(text)
                let cut = line.firstIndex(of: 0xE5)! + 1
                plan.append(.init(sender: client, texts: [text], notFirst: []))
                pieces.append([Array(line[..<cut]), Array(line[cut...])])
            }
            probe.transcript.note("each client sends a line cut inside the character 张 (after its first byte of three), the two pieces 15 ms apart")
            try Self.sendInTurns(clients, pieces)
            try scene.expectMessages(plan, within: 2, mangled: .chatLinesSplit) { _ in .chatUTF8PerLine }
            try scene.sync("every message was delivered", fallback: .chatUTF8PerLine)
        }
    }

    /// A piece from each client in turn, 15 ms between turns, until all are sent.
    private static func sendInTurns(_ clients: [ChatClient], _ pieces: [[[UInt8]]]) throws {
        var pieces = pieces
        while pieces.contains(where: { !$0.isEmpty }) {
            for index in pieces.indices where !pieces[index].isEmpty {
                try clients[index].send(pieces[index].removeFirst())
            }
            Thread.sleep(forTimeInterval: 0.015)
        }
    }

    // MARK: serveChat: commands, leaving

    // /who lists every named client sorted by bytes; a second /nick renames (and frees the
    // old name); the own name again changes nothing; /quit is answered "bye", the connection
    // closes, the others are told, and what came after /quit is ignored.
    func test4_whoRenameAndQuit() throws {
        try grade {
            let probe = Probe("serveChat(_:stop:maxLine:maxQueued:) answers /who with every nickname sorted by bytes, renames on a second /nick and announces it, and answers /quit with \"bye\", closes, and tells the others")
            let count = probe.random.int(in: 3...5)
            // Byte order is not alphabetical order: an upper-case name that comes first by
            // bytes and last case-insensitively, a lower-case one the other way round.
            let upper = String(probe.random.pick(Array("NOPQRSTUVWXYZ"))) + String((0..<probe.random.int(in: 1...5)).map { _ in probe.random.pick(Array("aeiouxyz")) })
            let lower = String(probe.random.pick(Array("abcdefghijklm"))) + String((0..<probe.random.int(in: 1...5)).map { _ in probe.random.pick(Array("aeiouxyz")) })
            var names = [upper, lower]
            for name in ChatInputs.names(count + 4, probe.random) where names.count < count && !names.contains(name) { names.append(name) }
            var generator = probe.random
            names.shuffle(using: &generator)
            if names == names.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) { names.reverse() }  // joined out of order
            let fresh = ChatInputs.names(count + 6, probe.random).filter { !names.contains($0) }
            let scene = try Self.chatServer(probe)
            defer { scene.tearDown() }
            let latecomer = try scene.connect()
            let clients = try scene.connectAndJoin(Array(names.prefix(count)))

            let who = { (asker: ChatClient) in
                let expected = ChatScene.whoLine(scene.named.map { $0.name! })
                try asker.send(chatLine("/who"))
                try scene.expect(asker, expected, "its answer to /who: every nickname, sorted by bytes") { next in
                    guard let line = next.line, line.hasPrefix("who: ") else { return .chatWho }
                    let listed = Set(line.dropFirst(5).components(separatedBy: ", "))
                    let gone = scene.clients.filter { $0.left }.compactMap(\.name)
                    return gone.contains(where: listed.contains) ? .chatNickFreed : .chatWho
                }
            }
            try who(probe.random.pick(clients))

            // A rename, then the same name again, then the old name taken by a newcomer.
            let renamer = probe.random.pick(clients)
            let old = renamer.name!
            let new = fresh[0]
            try renamer.send(chatLine("/nick \(new)"))
            try scene.expect(renamer, "ok, now \(new)", "its answer to /nick \(new), its second nickname") { _ in .chatRename }
            for other in scene.named where other !== renamer {
                try scene.expect(other, "* \(old) is now \(new)", "\(renamer.label) changed its nickname") { _ in .chatRename }
            }
            renamer.name = new
            try renamer.send(chatLine("/nick \(new)"))
            try scene.expect(renamer, "ok, now \(new)", "its answer to /nick with the nickname it already has") { _ in .chatRename }
            try scene.sync("\(renamer.label) took the nickname it already had (nothing to announce)", fallback: .chatRename)
            try scene.join(latecomer, as: old) { next in next.line == "error: nickname taken" ? .chatNickFreed : nil }
            try who(probe.random.pick(scene.named))

            // /quit, with more lines after it in the same send: those are ignored.
            let quitter = probe.random.pick(scene.named.filter { $0 !== renamer })
            let after = "after quit [\(probe.random.int(in: 100...999))]"
            try quitter.send(chatLine("/quit") + chatLine(after) + chatLine("/nick \(fresh[1])"))
            let (closed, before) = try scene.expectClosed(quitter, within: 1)
            guard before.first == Array("bye".utf8) else {
                throw scene.fail(expected: "\(quitter.label) to receive \"bye\\n\" in answer to /quit, then end-of-file", actual: before.isEmpty ? (closed ? "the connection closed with no \"bye\"" : "nothing within 1 s") : "it received \(escaped(before[0] + [10]))", hint: .chatQuitBye)
            }
            guard before.count == 1 else {
                throw scene.fail(expected: "\(quitter.label) to receive \"bye\\n\", then nothing more (it sent more lines after /quit, which must be ignored)", actual: "after \"bye\" it received \(escaped(before[1] + [10]))", hint: .chatAfterQuit)
            }
            guard closed else {
                throw scene.fail(expected: "the connection closed after \"bye\"", actual: "it was still open 1 s after \"bye\"", hint: .chatQuitBye)
            }
            quitter.close()
            for other in scene.named {
                try scene.expect(other, "* \(quitter.name!) left", "\(quitter.label) sent /quit") { next in
                    next.line?.contains(after) == true || next.line?.contains(fresh[1]) == true ? .chatAfterQuit : .chatQuitBye
                }
            }
            try scene.sync("\(quitter.label) quit (and sent more lines after /quit, which must be ignored)", fallback: .chatAfterQuit)
            try who(probe.random.pick(scene.named))
        }
    }

    // A named client that disconnects (after a message and with an unfinished line) and one
    // that resets are announced as left; clients without a nickname that close, reset or
    // /quit are not; the nicknames are free again and the server's descriptors come back
    // down to one per client still connected.
    func test5_leaveAnnouncedForDisconnectAndReset() throws {
        try grade {
            let probe = Probe("serveChat(_:stop:maxLine:maxQueued:) announces \"* NAME left\" when a named client disconnects or resets, not for a client without a nickname, and frees its nickname and its connection")
            let count = probe.random.int(in: 4...6)
            let names = ChatInputs.names(count, probe.random)
            let baseline = DescriptorCensus.take()
            let scene = try Self.chatServer(probe)
            defer { scene.tearDown() }
            let clients = try scene.connectAndJoin(names)
            let (closer, resetter, quitter) = (try scene.connect(), try scene.connect(), try scene.connect())
            var generator = probe.random
            let order = clients.shuffled(using: &generator)
            let (leaver, aborter) = (order[0], order[1])

            // A plain disconnect: a last message and an unfinished line, then close.
            let last = ChatInputs.text(probe.random, tag: "[last]")
            let unfinished = "unfinished [\(probe.random.int(in: 100...999))]"
            if probe.random.int(in: 0...1) == 0 {
                try leaver.send(chatLine(last) + Array(unfinished.utf8))
            } else {
                try leaver.send(chatLine(last))
                try leaver.send(Array(unfinished.utf8))
            }
            leaver.close()
            for other in scene.named {
                try scene.expect(other, "\(leaver.name!): \(last)", "the last message \(leaver.label) sent before it disconnected") { _ in .chatMissing }
                try scene.expect(other, "* \(leaver.name!) left", "\(leaver.label) disconnected") { next in
                    next.line?.contains(unfinished) == true ? .chatUnfinishedLine : .chatLeaveAnnounced
                }
            }
            // A reset.
            if probe.random.int(in: 0...1) == 0 { try aborter.send(Array("half a line".utf8)) }
            try aborter.reset()
            for other in scene.named {
                try scene.expect(other, "* \(aborter.name!) left", "\(aborter.label) reset its connection") { _ in .chatLeaveAnnounced }
            }
            // Clients without a nickname leave: close, reset, /quit. Nobody is told.
            closer.close()
            try resetter.reset()
            try quitter.send(chatLine("/quit"))
            let (closed, before) = try scene.expectClosed(quitter, within: 1)
            guard before == [Array("bye".utf8)], closed else {
                throw scene.fail(expected: "\(quitter.label), without a nickname, to receive \"bye\\n\" in answer to /quit, then end-of-file", actual: "it received \(before.map { escaped($0 + [10]) }.joined(separator: ", "))\(closed ? ", then end-of-file" : " and the connection stayed open 1 s")", hint: .chatQuitBye)
            }
            quitter.close()
            try scene.sync("three clients without a nickname left (by close, reset and /quit): nobody should be told", fallback: .chatUnnamedAnnounced) { _, next in
                next.line.map { $0.hasPrefix("* ") && $0.hasSuffix(" left") } == true ? .chatUnnamedAnnounced : nil
            }
            // The names of those gone are free, and no longer listed.
            let asker = probe.random.pick(scene.named)
            try asker.send(chatLine("/who"))
            try scene.expect(asker, ChatScene.whoLine(scene.named.map { $0.name! }), "its answer to /who after two named clients left") { _ in .chatNickFreed }
            let newcomer = try scene.connect()
            try scene.join(newcomer, as: aborter.name!) { next in next.line == "error: nickname taken" ? .chatNickFreed : nil }
            try scene.expectServerDescriptors(scene.named.count, since: baseline, situation: "once clients had closed, reset or quit", hint: .pollLeaks)
        }
    }

    // Before /nick: a message or /who is answered "pick a nickname first"; bad nicknames
    // (empty, a space, 17 bytes or more, punctuation) and taken ones are refused; the client
    // stays and can then take a good one (16 bytes at most); nobody else hears of it.
    func test6_commandsBeforeNickAndBadNicknames() throws {
        try grade {
            let probe = Probe("serveChat(_:stop:maxLine:maxQueued:) answers a message or /who before /nick, a bad nickname and a taken one with the protocol's error, to the sender alone, and keeps the client")
            let names = ChatInputs.names(2, probe.random)
            let scene = try Self.chatServer(probe)
            defer { scene.tearDown() }
            let (first, second, newcomer) = (try scene.connect(), try scene.connect(), try scene.connect())
            try scene.join(first, as: names[0])
            try scene.join(second, as: names[1])
            let pick = "error: pick a nickname first with /nick NAME"
            let early = [ChatInputs.text(probe.random, tag: "[early]"), ChatInputs.text(probe.random, tag: "[soon]"), "/who"]
            for line in early {
                try newcomer.send(chatLine(line))
                try scene.expect(newcomer, pick, "its answer to \(escaped(chatLine(line))) before it has a nickname") { next in
                    next.line?.hasPrefix("who: ") == true || next == .nothing([]) ? .chatNeedsNick : .chatErrorReply
                }
            }
            for (line, kind) in ChatInputs.badNames(probe.random) {
                try newcomer.send(chatLine(line))
                try scene.expect(newcomer, "error: bad nickname", "its answer to \(escaped(chatLine(line))): a nickname \(kind)") { _ in .chatBadNickAccepted }
            }
            for taken in names {
                try newcomer.send(chatLine("/nick \(taken)"))
                try scene.expect(newcomer, "error: nickname taken", "its answer to /nick \(taken), which another client has") { _ in .chatNickTaken }
            }
            try scene.sync("a client without a nickname made mistakes: only it should hear of them", fallback: .chatErrorReply) { receiver, next in
                next.line.map { $0.contains("[early]") || $0.contains("[soon]") } == true ? .chatNeedsNick : nil
            }
            // Now a good one: exactly 16 bytes, part Chinese.
            let chinese = probe.random.int(in: 1...5)
            let sixteen = String((0..<chinese).map { _ in probe.random.pick(Array("张伟王芳李娜刘洋")) }) + String(repeating: probe.random.pick(["x", "Y", "_", "-", "7"]), count: 16 - 3 * chinese)
            try scene.join(newcomer, as: sixteen)
            // A nickname may start with a digit, "-" or "_".
            let odd = probe.random.pick(["7", "-", "_", "0"]) + String((0..<probe.random.int(in: 1...4)).map { _ in probe.random.pick(Array("ab-_9Zé张")) })  // 13 bytes at most
            try first.send(chatLine("/nick \(odd)"))
            try scene.expect(first, "ok, now \(odd)", "its answer to /nick \(odd), a good nickname (letters, digits 0-9, \"_\" and \"-\", in any order)") { next in
                next.line == "error: bad nickname" ? .chatGoodNickRejected : .chatRename
            }
            for other in [second, newcomer] {
                try scene.expect(other, "* \(first.name!) is now \(odd)", "\(first.label) changed its nickname") { _ in .chatRename }
            }
            first.name = odd
            // A named client asks for a taken name: refused, and it keeps its own.
            try second.send(chatLine("/nick \(probe.random.pick([odd, sixteen]))"))
            try scene.expect(second, "error: nickname taken", "its answer to /nick with a nickname another client has") { _ in .chatNickTaken }
            try scene.sync("a named client asked for a taken nickname (it keeps its own)", fallback: .chatNickTaken)
        }
    }

    // maxLine bytes is fine ("\r" included); one more is "line too long"; a line far longer,
    // arriving in pieces, is answered as soon as it passes maxLine, once, and dropped whole:
    // none of its pieces reaches anyone, and the line after it does.
    func test7_linesLongerThanMaxLineAreDroppedWhole() throws {
        try grade {
            let maxLineRange = 24...600
            let probe = Probe("serveChat(_:stop:maxLine:maxQueued:) answers a line longer than maxLine with \"error: line too long\" as soon as it passes maxLine, once, and drops all of it, however long, over as many recvs as it takes")
            let maxLine = probe.random.int(in: maxLineRange)
            let scene = try Self.chatServer(probe, maxLine: maxLine)
            defer { scene.tearDown() }
            let names = ChatInputs.names(2, probe.random)
            let (talker, listener) = (try scene.connect(), try scene.connect())
            try scene.join(talker, as: names[0])
            try scene.join(listener, as: names[1])
            let filler = { (count: Int) -> [UInt8] in
                (0..<count).map { _ in probe.random.pick(Array("abcdefghij KLMNOP0123456789.,!".utf8)) }
            }
            probe.transcript.note("maxLine \(maxLine)")
            // Exactly maxLine bytes: a message. And maxLine bytes whose last is "\r".
            let exact = filler(maxLine)
            try talker.send(exact + [10])
            try scene.expect(listener, "\(talker.name!): \(String(decoding: exact, as: UTF8.self))", "\(talker.label) sent a line of exactly maxLine = \(maxLine) bytes, which is not too long") { _ in .chatLineTooLong }
            let withReturn = filler(maxLine - 1)
            try talker.send(withReturn + [13, 10])
            try scene.expect(listener, "\(talker.name!): \(String(decoding: withReturn, as: UTF8.self))", "\(talker.label) sent \(maxLine - 1) bytes and \"\\r\\n\": maxLine bytes before the \"\\n\"") { next in
                next.line?.hasSuffix("\r") == true ? .chatCarriageReturn : .chatLineTooLong
            }
            // One byte too many, in one send.
            try talker.send(filler(maxLine + 1) + [10])
            try scene.expect(talker, "error: line too long", "it sent a line of maxLine + 1 = \(maxLine + 1) bytes") { _ in .chatLineTooLong }
            try scene.sync("a line of maxLine + 1 bytes", fallback: .chatLineTooLong)

            // Far longer, in pieces: the answer must come before the line's end is even sent.
            let total = probe.random.int(in: 0...1) == 0 ? probe.random.int(in: 70_000...200_000) : probe.random.int(in: (maxLine * 4)...(maxLine * 40))
            let head = filler(maxLine + probe.random.int(in: 1...20))
            try talker.send(head)
            probe.transcript.note("\(talker.label) starts a line of \(total) bytes with \(head.count): the answer must come now, before the rest")
            try scene.expect(talker, "error: line too long", "the first \(head.count) bytes of a line, more than maxLine = \(maxLine), had come, with no \"\\n\"") { next in
                next == .nothing([]) ? .chatLongLineEarly : .chatLineTooLong
            }
            // The rest, in pieces: some that would be commands or messages if read as lines.
            let tag = "tail [\(probe.random.int(in: 1000...9999))]"
            var rest = total - head.count - tag.utf8.count
            talker.recording = false
            while rest > 0 {
                let size = min(rest, probe.random.int(in: 1...max(2, min(rest, 40_000))))
                let decoy = probe.random.pick(["/quit", "/nick decoy", "/who", "x"])
                let piece = size > decoy.utf8.count + 1 ? Array(decoy.utf8) + filler(size - decoy.utf8.count) : filler(size)
                try talker.send(piece)
                rest -= size
                Thread.sleep(forTimeInterval: 0.004)
            }
            talker.recording = true
            talker.note("the harness sent \(total - head.count - tag.utf8.count) more bytes of that line, in pieces (some starting \"/quit\", \"/nick decoy\", \"/who\"), 4 ms apart")
            Thread.sleep(forTimeInterval: 0.01)
            try talker.send(Array(tag.utf8))
            Thread.sleep(forTimeInterval: 0.01)
            let after = ChatInputs.text(probe.random, tag: "[after]")
            try talker.send([10] + chatLine(after))
            try scene.expect(listener, "\(talker.name!): \(after)", "the line \(talker.label) sent right after the end of its \(total)-byte line; nothing of that line itself") { next in
                // Anything else can only be what was left of the long line (a message, even an
                // empty one, or a command it seemed to hold).
                next.line != nil ? .chatLongLineTail : .chatMissing
            }
            try scene.sync("a line of \(total) bytes, dropped whole", fallback: .chatLongLineTail) { receiver, next in
                receiver === talker && next.line != nil ? .chatLongLineTail : nil
            }
        }
    }

    // Lines that are not UTF-8 (two kinds) and unknown commands (two) are refused to the
    // sender alone; valid UTF-8 of several bytes passes; "\r\n" line ends work for /nick,
    // messages and /who, and a "\r" inside a line stays.
    func test8_invalidUTF8UnknownCommandsAndCRLF() throws {
        try grade {
            let probe = Probe("serveChat(_:stop:maxLine:maxQueued:) answers a line that is not UTF-8 and an unknown command with the protocol's error, passes valid UTF-8 on, and drops the \"\\r\" of \"\\r\\n\"")
            let names = ChatInputs.names(3, probe.random)
            let scene = try Self.chatServer(probe)
            defer { scene.tearDown() }
            let (talker, listener, crlf) = (try scene.connect(), try scene.connect(), try scene.connect())
            try scene.join(talker, as: names[0])
            try scene.join(listener, as: names[1])
            try scene.join(crlf, as: names[2], lineEnd: "\r\n") { next in
                next.line == "error: bad nickname" || next.line == "welcome \(names[2])\r" ? .chatCarriageReturn : nil
            }
            for (bytes, kind) in ChatInputs.invalidUTF8(probe.random) {
                try talker.send(bytes + [10])
                try scene.expect(talker, "error: not UTF-8", "it sent a line with \(kind)") { _ in .chatUTF8 }
            }
            let valid = ChatInputs.text(probe.random, tag: "张伟 😀 naïve")
            try talker.send(chatLine(valid))
            for other in [listener, crlf] {
                try scene.expect(other, "\(talker.name!): \(valid)", "\(talker.label) sent a valid line of UTF-8 with characters of 2, 3 and 4 bytes") { next in
                    next.line?.hasPrefix("error: ") == true ? .chatErrorReply : .chatUTF8
                }
            }
            for command in ChatInputs.unknownCommands(probe.random) {
                try talker.send(chatLine(command))
                try scene.expect(talker, "error: unknown command", "it sent \(escaped(chatLine(command))), which is no command of the protocol") { _ in .chatUnknownCommand }
            }
            try scene.sync("lines that are not UTF-8 and unknown commands", fallback: .chatErrorReply) { _, next in
                guard let line = next.line else { return nil }
                return line.contains("hi ") || line.contains("fe") ? .chatUTF8 : line.contains("/") ? .chatUnknownCommand : nil
            }
            // "\r\n" line ends, and a "\r" inside a line.
            let plain = ChatInputs.text(probe.random, tag: "[crlf]")
            try crlf.send(Array((plain + "\r\n").utf8))
            for other in [talker, listener] {
                try scene.expect(other, "\(crlf.name!): \(plain)", "\(crlf.label) sent \(escaped(Array((plain + "\r\n").utf8)))") { _ in .chatCarriageReturn }
            }
            let inside = "a\rb [\(probe.random.int(in: 100...999))]"
            try crlf.send(chatLine(inside))
            for other in [talker, listener] {
                try scene.expect(other, "\(crlf.name!): \(inside)", "\(crlf.label) sent \(escaped(chatLine(inside))): only a \"\\r\" right before the \"\\n\" is dropped") { _ in .chatCarriageReturn }
            }
            try crlf.send(Array("/who\r\n".utf8))
            try scene.expect(crlf, ChatScene.whoLine(scene.named.map { $0.name! }), "its answer to \"/who\\r\\n\"") { _ in .chatCarriageReturn }
            try scene.sync("\"\\r\\n\" line ends", fallback: .chatCarriageReturn)
        }
    }

    // MARK: serveChat: slow readers, spinning, descriptors, stop

    // A named client that never reads while another floods the room: the others' messages
    // keep arriving within 0.5 s; the one that never reads is disconnected and announced as
    // left once its queue passes maxQueued, and not before. Twice: maxQueued smaller than
    // what the kernel holds for that client, then larger (where cutting it off at its first
    // EAGAIN shows).
    func test9_clientThatNeverReadsIsDisconnected() throws {
        try grade {
            let probe = Probe("serveChat(_:stop:maxLine:maxQueued:) never waits for a client that does not read: the others' messages keep arriving, and that client is disconnected and announced as left once its queue would pass maxQueued bytes (not before)")
            for range in [2048...16_384, 24_576...65_536] {
                try Self.slowReader(probe, maxQueued: probe.random.int(in: range))
            }
        }
    }

    private static func slowReader(_ probe: Probe, maxQueued: Int) throws {
        let maxLine = probe.random.int(in: 256...1024)
        // The connections inherit a small SO_SNDBUF from the listener: the kernel then holds
        // about 12 KB for a client that does not read, not megabytes, and the flood stays short.
        let scene = try Self.chatServer(probe, maxLine: maxLine, maxQueued: maxQueued, sendBuffer: 4096)
        defer { scene.tearDown() }
        let names = ChatInputs.names(3, probe.random)
        let watcher = try scene.connect()
        let flooder = try scene.connect()
        let hog = try scene.connect(receiveBuffer: 4096)
        try scene.join(watcher, as: names[0])
        try scene.join(flooder, as: names[1])
        try scene.join(hog, as: names[2])
        probe.transcript.note("maxLine \(maxLine), maxQueued \(maxQueued); \(hog.label) never reads again; \(flooder.label) sends bursts of lines, each waited for at \(watcher.label)")
        // The server's own queue for the hog: what it was given to send there, less what the
        // kernel holds (measured; or, where it cannot be read, at most all of it).
        let kernel = KernelHeld(serverEndOf: hog.socket)
        var toHog = 0  // given to the server for the hog since it read its welcome
        var queued = 0  // the hog's queue in the server, at most, after the last burst
        var cut = false
        var bursts = 0
        let giveUp = maxQueued + (kernel == nil ? 96 * 1024 : 16 << 20)
        watcher.recording = false
        flooder.recording = false
        defer { flooder.recording = true }
        while !cut {
            bursts += 1
            var lines: [String] = []
            var size = 0
            let burstLimit = min(maxQueued / 2, 8192)
            while true {
                let text = "b\(bursts) " + String(repeating: probe.random.pick(["a", "b", "z", "9"]), count: probe.random.int(in: (maxLine / 2)...(maxLine - 8)))
                let line = "\(flooder.name!): \(text)"
                if size + line.utf8.count + 1 > burstLimit && !lines.isEmpty { break }
                lines.append(text)
                size += line.utf8.count + 1
            }
            // A cut must not come before the hog's queue could pass maxQueued: it held at most
            // `queued` after the last burst, plus all of this one.
            let notBefore = {
                guard queued + size > maxQueued else {
                    throw scene.fail(expected: "\(hog.label) disconnected only once its queue would hold more than maxQueued = \(maxQueued) bytes", actual: "it was announced as left during a burst of \(size) bytes, when the server held at most \(queued) bytes for it (\(toHog - size) given to send it in all, the rest held by the kernel)", hint: .chatQueueCapEarly)
                }
            }
            let started = Clock.now
            try flooder.send(lines.flatMap(chatLine))
            toHog += size
            var received = 0
            while received < lines.count {
                let next = try watcher.next(within: max(0, 0.5 - (Clock.now - started)))
                guard let line = next.line else {
                    watcher.note("\(watcher.label) read \(watcher.unrecordedBytes) bytes of the flood")
                    // Closed: the server cut off a client that reads everything at once.
                    let closed = if case .closed = next { true } else { false }
                    throw scene.fail(expected: "burst \(bursts) of \(flooder.label) (\(lines.count) lines) to reach \(watcher.label) within 0.5 s, while \(hog.label) does not read", actual: "\(received) of its lines came, then \(next.described) (the server had been given \(toHog - size) bytes for \(hog.label) before this burst)", hint: closed ? .chatQueueCapEarly : .chatSlowClientBlocks)
                }
                if line == "* \(names[2]) left" {
                    cut = true
                    try notBefore()
                    continue
                }
                guard line == "\(flooder.name!): \(lines[received])" else {
                    throw scene.fail(expected: "\(watcher.label) to receive burst \(bursts) of \(flooder.label), line by line", actual: "line \(received + 1) of the burst was \(escaped(Array(line.utf8)).prefix(120))", hint: .chatMissing)
                }
                received += 1
            }
            let took = Clock.now - started
            guard took < 0.5 else {
                throw scene.fail(expected: "each burst to reach \(watcher.label) within 0.5 s", actual: "burst \(bursts) took \(String(format: "%.2f", took)) s", hint: .chatSlowClientBlocks)
            }
            guard !cut else { break }
            if let kernel, kernel.bytes == nil {
                // The server closed its end during this burst (cut off on its last line): the
                // announcement follows that line.
                try scene.expect(watcher, "* \(names[2]) left", "the server closed \(hog.label)'s connection") { _ in .chatNoQueueCap }
                cut = true
                try notBefore()
                break
            }
            queued = kernel?.bytes.map { toHog - $0 } ?? toHog
            // Past the cap by more than what may still be on its way between the two kernels
            // (or, unmeasured, by more than the kernel could hold): unless the announcement is
            // just behind the burst, there is no cap.
            let past = kernel == nil ? toHog > giveUp : queued > maxQueued + 4096 || toHog > giveUp
            if past, try watcher.next(within: 0.1).line == "* \(names[2]) left" {
                cut = true
                try notBefore()
                break
            }
            guard !past else {
                watcher.recording = true
                watcher.note("\(watcher.label) read \(watcher.unrecordedBytes) bytes: \(bursts) bursts of \(flooder.label)'s lines")
                let held = kernel?.bytes.map { "the kernel held \($0) of them, so the server held \(toHog - $0)" } ?? "the kernel holds about 12 KB of them"
                throw scene.fail(expected: "\(hog.label), which never reads, disconnected and announced as left once its queue would pass maxQueued = \(maxQueued) bytes", actual: "\(toHog) bytes were given to the server to send it (\(held)), and it was never announced as left", hint: .chatNoQueueCap)
            }
        }
        watcher.recording = true
        watcher.note("\(watcher.label) read \(watcher.unrecordedBytes) bytes: \(bursts) bursts of \(flooder.label)'s lines")
        flooder.recording = true
        flooder.note("\(flooder.label) sent \(bursts) bursts of lines, \(toHog) bytes once each had its name in front")
        // It must really be disconnected: its end reads everything queued, then end-of-file.
        hog.recording = false
        let (closed, _, _) = try hog.closes(within: 1)
        hog.recording = true
        guard closed else {
            throw scene.fail(expected: "\(hog.label)'s connection closed once it was announced as left", actual: "it stayed open for 1 s after", hint: .chatNoQueueCap)
        }
        hog.close()
        try scene.expect(flooder, "* \(names[2]) left", "\(hog.label) was disconnected") { _ in .chatNoQueueCap }
        try scene.sync("\(hog.label) was disconnected", fallback: .chatSentTwice)
    }

    // Clients connected (one with a line half sent) and nothing happening: no processor
    // time. Then clients close and reset: still none, and the server's descriptors come back
    // down to one per client still connected.
    func test10_idleServerDoesNotSpinAndLeavesNothingBehind() throws {
        try grade {
            let probe = Probe("serveChat(_:stop:maxLine:maxQueued:) uses no processor time while nothing happens, with clients connected and after some have left, and closes the connection of every client that leaves")
            let baseline = DescriptorCensus.take()
            let scene = try Self.chatServer(probe)
            defer { scene.tearDown() }
            let count = probe.random.int(in: 3...5)
            let names = ChatInputs.names(count, probe.random)
            let clients = try scene.connectAndJoin(names)
            let (unnamed, partial) = (try scene.connect(), try scene.connect())
            try partial.send(Array("half a li".utf8))
            try scene.sync("\(count) clients joined", fallback: .chatJoinAnnounced)
            let idle = scene.server.watchWhileWaiting(0.2, cpuLimit: 0.05)
            guard !idle.spinning else {
                throw scene.fail(expected: "a chat server with \(count + 2) quiet clients to wait in poll, using next to no processor time", actual: "its thread used \(String(format: "%.3f", idle.cpu)) s of processor time in 0.20 s with nothing to do (a thread waiting in poll uses none and is never ready to run; this one was, or used more)", hint: .pollAlwaysPollout)
            }
            // Leave in every way: close, reset, a half line left behind.
            clients[0].close()
            try clients[1].reset()
            try unnamed.reset()
            partial.close()
            for other in scene.named {
                try scene.expectInAnyOrder(other, clients.prefix(2).map { "* \($0.name!) left" }, "\(clients[0].label) closed and \(clients[1].label) reset") { _ in .chatLeaveAnnounced }
            }
            let after = scene.server.watchWhileWaiting(0.15, cpuLimit: 0.04)
            guard !after.spinning else {
                throw scene.fail(expected: "no processor time used once four clients had gone", actual: "the server's thread used \(String(format: "%.3f", after.cpu)) s in 0.15 s (a thread waiting in poll uses none and is never ready to run; this one was, or used more)", hint: .pollSpinsOnClosed)
            }
            try scene.expectServerDescriptors(scene.named.count, since: baseline, situation: "after clients closed and reset", hint: .pollLeaks)
        }
    }

    // Stop: returns within 1 s, every connection closed, the listener open, the stop byte
    // still in the pipe, no descriptor of the server's left.
    func test11_stopClosesEveryConnection() throws {
        try grade {
            let probe = Probe("serveChat(_:stop:maxLine:maxQueued:) returns soon after the stop pipe becomes readable, having closed every connection, and leaves the listener and the stop pipe alone")
            let baseline = DescriptorCensus.take()
            let scene = try Self.chatServer(probe)
            defer { scene.tearDown() }
            let count = probe.random.int(in: 2...4)
            let names = ChatInputs.names(count, probe.random)
            _ = try scene.connectAndJoin(names)
            let others = try (0..<probe.random.int(in: 1...2)).map { _ in try scene.connect() }
            try others[0].send(Array("/ni".utf8))
            try scene.sync("\(count) clients joined", fallback: .chatJoinAnnounced)
            scene.server.requestStop()
            probe.transcript.note("the harness wrote a byte to the stop pipe")
            try Lesson07Grading.expectNormalReturn("serveChat", scene.server.waitForReturn, within: 1, after: "the stop byte", when: "when stopped", probe: probe, hint: .pollStop)
            for client in scene.clients {
                let (closed, _, _) = try client.closes(within: 0.5)
                guard closed else {
                    throw probe.fail(expected: "every client's connection closed when the server stops", actual: "\(client.label) was still open 0.5 s after serveChat returned", hint: .pollLeaks)
                }
            }
            guard scene.server.stopByteStillThere else {
                throw probe.fail(expected: "the stop byte left in the pipe", actual: "the pipe was empty: the server read it", hint: .stopRead)
            }
            guard Inspect.isOpen(scene.server.listener.fd) else {
                throw probe.fail(expected: "the listener left open (it is the caller's)", actual: "it was closed", hint: .listenerClosed)
            }
            scene.clients.forEach { $0.close() }
            let left = Lesson07Grading.leftOpen(since: baseline, server: scene.server)
            guard left.isEmpty else {
                throw probe.fail(expected: "no descriptor of the server's left open after it returned", actual: "still open: \(left.map(Inspect.describe).joined(separator: "; "))", hint: .pollLeaks)
            }
        }
    }

    // Rule 1: a listener that is not open, not a socket, or not listening: an error, at once.
    func test12_badListener() throws {
        try grade {
            let probe = Probe("serveChat(_:stop:maxLine:maxQueued:) throws SocketError at once when the listener is not usable: a closed descriptor, a pipe, a socket that is not listening")
            try Lesson07Grading.expectBadListenersRefused(probe) { listener, stop in
                try serveChat(listener, stop: stop, maxLine: 1024, maxQueued: 65_536)
            }
        }
    }

    // MARK: runChatClient

    private static func chatClient(_ probe: Probe) throws -> RunningClient {
        try RunningClient(probe) { connection, input, output in
            try runChatClient(connection: connection, input: input, output: output)
        }
    }

    /// Bytes a server might send: whole lines, or (always with `cut`) ending inside a line.
    private static func serverBytes(_ random: SeededGenerator, cut: Bool = false) -> [UInt8] {
        let lines = (0..<random.int(in: 1...3)).map { index -> String in
            random.pick(["* 张伟 joined", "bob: \(ChatInputs.text(random, tag: "[s\(index)]"))", "who: a, b, 张伟", "ok, now Мария"])
        }
        let bytes = lines.flatMap(chatLine)
        return cut || random.int(in: 0...1) == 0 ? Array(bytes.prefix(random.int(in: 1...(bytes.count - 1)))) : bytes
    }

    // Both directions at once: what the server sends reaches the screen while nothing is
    // typed, and what is typed reaches the server while it says nothing, in rounds of a
    // seeded order, partial lines and a burst of more than 64 KB included.
    func test13_clientRelaysBothWaysAtOnce() throws {
        try grade {
            let probe = Probe("runChatClient(connection:input:output:) sends what is typed to the server and writes what the server sends to output, each at once, whichever side is silent")
            let client = try Self.chatClient(probe)
            defer { client.tearDown() }
            let rounds = probe.random.int(in: 3...5)
            let serverFirst = probe.random.int(in: 0...1) == 0
            let big = probe.random.int(in: 1...rounds)
            for round in 1...rounds {
                for side in (round % 2 == (serverFirst ? 1 : 0)) ? [0, 1] : [1, 0] {
                    if side == 0 {
                        var bytes = Self.serverBytes(probe.random, cut: round == 1)  // a partial line at least once
                        if round == big { bytes += Array(String(repeating: "恭喜您传输成功 ", count: probe.random.int(in: 3000...6000)).utf8) + [10] }
                        try client.serverSends(bytes)
                        // Small pieces must come at once; more than 64 KB may take a little longer.
                        let bound = round == big ? 2.0 : 0.5
                        let shown = client.screenShows(bytes.count, within: bound)
                        guard shown == bytes else {
                            let difference = GradingHarness.difference(expected: bytes, actual: shown) ?? ""
                            throw probe.fail(expected: "the server's \(bytes.count) bytes written to output within \(bound) s, while nothing was typed", actual: shown.isEmpty ? "nothing came out: \(client.result.map { "the client had \(Lesson07Grading.describe($0))" } ?? "the client was still waiting for something else")" : difference, hint: shown.isEmpty ? (client.result == nil ? .chatClientBlocks : .chatClientRelay) : .chatClientRelay)
                        }
                    } else {
                        let lines = (0..<probe.random.int(in: 1...3)).map { ChatInputs.text(probe.random, tag: "[t\(round).\($0)]") }
                        var typed = lines.flatMap(chatLine)
                        if round == big { typed += Array(String(repeating: "x", count: probe.random.int(in: 66_000...90_000)).utf8) + [10] }
                        let pieces = ChatInputs.split(typed, pieces: probe.random.int(in: 1...3), probe.random)
                        for piece in pieces { client.type(piece) }
                        let bound = round == big ? 2.0 : 0.5
                        let got = try client.serverReceives(typed.count, within: bound)
                        guard got.bytes == typed else {
                            let difference = GradingHarness.difference(expected: typed, actual: got.bytes) ?? ""
                            throw probe.fail(expected: "the \(typed.count) bytes typed sent to the server within \(bound) s, as they are, while the server said nothing", actual: got.bytes.isEmpty ? "nothing came\(got.closed ? "; the client closed the connection" : "")" : difference, hint: got.bytes.isEmpty && client.result == nil ? .chatClientBlocks : .chatClientRelay)
                        }
                    }
                }
            }
            if let result = client.result {
                throw probe.fail(expected: "runChatClient to keep running while input is open and the server is connected", actual: "it \(Lesson07Grading.describe(result))", hint: .chatClientReturns)
            }
        }
    }

    // End of input: "/quit\n" is sent, once, after what was typed; the client keeps writing
    // what the server sends (waiting without spinning) until the server closes; then it
    // returns, leaving the connection open.
    func test14_clientQuitsAtEndOfInputAndWaitsForTheServer() throws {
        try grade {
            let probe = Probe("runChatClient(connection:input:output:) sends \"/quit\\n\" when input ends, keeps writing what the server sends until it closes, then returns and leaves the connection open")
            let client = try Self.chatClient(probe)
            defer { client.tearDown() }
            var typed = (0..<probe.random.int(in: 1...3)).map { ChatInputs.text(probe.random, tag: "[q\($0)]") }.flatMap(chatLine)
            // Half the time the input ends in the middle of a line (Ctrl-D after some text):
            // "/quit" must still arrive as a line of its own, or the server takes it for text.
            let unfinished = probe.random.int(in: 0...1) == 1
            if unfinished { typed += Array("and then I".utf8) }
            client.type(typed)
            let first = try client.serverReceives(typed.count, within: 0.5)
            guard first.bytes == typed else {
                throw probe.fail(expected: "the \(typed.count) bytes typed sent to the server", actual: "\(first.bytes.count) bytes came within 0.5 s", hint: .chatClientRelay)
            }
            client.endInput()
            let wanted = Array((unfinished ? "\n/quit\n" : "/quit\n").utf8)
            let quit = try client.serverReceives(wanted.count, within: 0.5)
            guard quit.bytes == wanted else {
                let situation = unfinished ? "once input ended in the middle of a line (a \"\\n\" first ends that line)" : "once input ended"
                throw probe.fail(expected: "\(escaped(wanted)) sent to the server \(situation)", actual: quit.bytes.isEmpty ? "nothing came within 0.5 s" : "it sent \(escaped(quit.bytes))", hint: .chatClientQuit)
            }
            // The server answers, and goes on talking for a while before it closes.
            let answer = Array("bye\n".utf8)
            try client.serverSends(answer)
            guard client.screenShows(answer.count, within: 0.5) == answer else {
                throw probe.fail(expected: "the server's \"bye\\n\" written to output after input ended", actual: client.result.map { "the client had \(Lesson07Grading.describe($0))" } ?? "it did not come out within 0.5 s", hint: client.result == nil ? .chatClientBlocks : .chatClientWaits)
            }
            let waited = client.watchWhileWaiting(0.15, cpuLimit: 0.04)
            if let result = client.result {
                throw probe.fail(expected: "runChatClient to wait, once input ended, until the server closes", actual: "it \(Lesson07Grading.describe(result)) while the server was still connected", hint: .chatClientWaits)
            }
            guard !waited.spinning else {
                throw probe.fail(expected: "a client waiting for the server, once input had ended, to wait in poll, using next to no processor time", actual: "its thread used \(String(format: "%.3f", waited.cpu)) s in 0.15 s (a thread waiting in poll uses none and is never ready to run; this one was, or used more)", hint: .chatClientSpins)
            }
            let more = try client.serverReceives(1, within: 0.02)
            guard more.bytes.isEmpty else {
                throw probe.fail(expected: "nothing more sent after \"/quit\\n\"", actual: "it sent \(escaped(more.bytes)) too", hint: .chatClientQuit)
            }
            let late = Self.serverBytes(probe.random) + Array("* someone left\n".utf8)
            try client.serverSends(late)
            guard client.screenShows(late.count, within: 0.5) == late else {
                throw probe.fail(expected: "what the server sent after \"bye\" (before it closed) written to output", actual: client.result.map { "the client had \(Lesson07Grading.describe($0))" } ?? "it did not come out within 0.5 s", hint: .chatClientWaits)
            }
            try client.serverCloses()
            try Lesson07Grading.expectNormalReturn("runChatClient", client.waitForReturn, within: 0.5, after: "the server closing", when: "when the server closes", probe: probe, hint: .chatClientReturns)
            guard client.connectionStillOpen else {
                throw probe.fail(expected: "the connection left open (fcntl F_GETFD on it succeeds): it is the caller's", actual: "it was closed", hint: .chatClientClosesConnection)
            }
        }
    }

    // The server closes while input is open and silent: the client returns at once, having
    // written all the server said, connection open. The server resets, or the screen goes
    // away (output's reader closes): SocketError, connection open. (Two inputs for the error
    // path, in a seeded order.)
    func test15_clientReturnsWhenTheServerClosesAndThrowsOnErrors() throws {
        try grade {
            let probe = Probe("runChatClient(connection:input:output:) returns at once when the server closes (input still open), throws SocketError when the server resets or output can no longer be written, and leaves the connection open every time")
            enum Ending: CaseIterable { case close, reset, screenGone }
            var generator = probe.random
            for ending in Ending.allCases.shuffled(using: &generator) {
                let client = try Self.chatClient(probe)
                defer { client.tearDown() }
                let typed = chatLine(ChatInputs.text(probe.random, tag: "[r]"))
                client.type(typed)
                _ = try client.serverReceives(typed.count, within: 0.5)
                let last = Self.serverBytes(probe.random)
                try client.serverSends(last)
                guard client.screenShows(last.count, within: 0.5) == last else {
                    throw probe.fail(expected: "the server's bytes written to output", actual: "they did not all come out within 0.5 s", hint: .chatClientBlocks)
                }
                let what: String
                switch ending {
                case .close:
                    what = "the server closing the connection"
                    try client.serverCloses()
                case .reset:
                    what = "the server resetting the connection"
                    try client.serverCloses(reset: true)
                case .screenGone:
                    what = "a write to output failing (EPIPE: the screen's end of the pipe was closed, then the server sent a line)"
                    client.screenCloses()
                    try client.serverSends(Self.serverBytes(probe.random))
                }
                guard let result = client.waitForReturn(0.5) else {
                    throw probe.fail(expected: "runChatClient to end within 0.5 s of \(what) (input was open and silent)", actual: "it was still running", hint: ending == .screenGone ? .chatClientReset : .chatClientReturns)
                }
                switch (ending, result) {
                case (.close, .failure(let error)):
                    throw probe.fail(expected: "runChatClient to return normally when the server closes", actual: "it threw \(error)", hint: .chatClientReturns)
                case (.reset, .success), (.screenGone, .success):
                    throw probe.fail(expected: "runChatClient to throw SocketError after \(what)", actual: "it returned normally", hint: .chatClientReset)
                case (.reset, .failure(let error)) where !(error is SocketError), (.screenGone, .failure(let error)) where !(error is SocketError):
                    throw probe.fail(expected: "runChatClient to throw SocketError after \(what)", actual: "it threw \(type(of: error)): \(error)", hint: .chatClientReset)
                default:
                    break
                }
                guard client.connectionStillOpen else {
                    throw probe.fail(expected: "the connection left open after runChatClient ended (\(what)): it is the caller's", actual: "it was closed", hint: .chatClientClosesConnection)
                }
            }
        }
    }

    // Nothing typed, nothing said: no processor time; the same after a line went out (POLLOUT
    // only while bytes wait).
    func test16_clientDoesNotSpin() throws {
        try grade {
            let probe = Probe("runChatClient(connection:input:output:) uses no processor time while neither the keyboard nor the server says anything")
            let client = try Self.chatClient(probe)
            defer { client.tearDown() }
            let idle = client.watchWhileWaiting(0.18, cpuLimit: 0.04)
            guard !idle.spinning, client.result == nil else {
                throw probe.fail(expected: "a chat client with nothing to do to wait in poll, using next to no processor time", actual: client.result.map { "it \(Lesson07Grading.describe($0))" } ?? "its thread used \(String(format: "%.3f", idle.cpu)) s in 0.18 s (a thread waiting in poll uses none and is never ready to run; this one was, or used more)", hint: client.result == nil ? .chatClientSpins : .chatClientReturns)
            }
            let typed = chatLine(ChatInputs.text(probe.random, tag: "[idle]"))
            client.type(typed)
            _ = try client.serverReceives(typed.count, within: 0.5)
            let reply = Self.serverBytes(probe.random)
            try client.serverSends(reply)
            _ = client.screenShows(reply.count, within: 0.5)
            let after = client.watchWhileWaiting(0.18, cpuLimit: 0.04)
            guard !after.spinning else {
                throw probe.fail(expected: "no processor time used once the line typed was sent and the server's answer written", actual: "its thread used \(String(format: "%.3f", after.cpu)) s in 0.18 s (a thread waiting in poll uses none and is never ready to run; this one was, or used more)", hint: .chatClientSpins)
            }
        }
    }
}
