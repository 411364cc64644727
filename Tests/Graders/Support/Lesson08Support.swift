import Foundation
import GradingHarness
import SocketKit

/// One chat client the harness plays against a learner's server: it sends bytes, reads
/// whole lines with a bound on every wait, and records both directions in the transcript.
///
/// Used from the check's own thread only.
final class ChatClient {
    let socket: HarnessSocket
    let number: Int
    /// The nickname the server has given it, as far as the check knows.
    var name: String?
    private let transcript: Transcript
    private let connection: Int
    /// Bytes read after the last whole line.
    private var pending: [UInt8] = []
    /// Set once the server has closed (or reset) the connection.
    private(set) var ended: String?
    /// While false, what is read is counted rather than written into the transcript (a
    /// flood of lines would bury the rest).
    var recording = true
    private(set) var unrecordedBytes = 0
    /// True once the harness closed or reset it (a client that left).
    private(set) var left = false

    init(_ address: SocketAddress, number: Int, transcript: Transcript, receiveBuffer: Int32? = nil) throws {
        self.socket = try HarnessSocket.connect(to: address, receiveBuffer: receiveBuffer)
        self.number = number
        self.transcript = transcript
        connection = transcript.open("chat client \(number) -> server")
    }

    /// "client 3 (张伟)", or "client 3 (no nickname)".
    var label: String { "client \(number) (\(name ?? "no nickname"))" }

    /// What the check does when the server stops taking bytes (set by ChatScene).
    var onStall: (_ sent: Int, _ of: Int) -> any Error = { sent, total in SocketError(call: "send (\(sent) of \(total) bytes taken in 2 s)", code: EAGAIN) }

    /// Sends all of `bytes`, waiting at most 2 s for the server to take them.
    func send(_ bytes: [UInt8]) throws {
        if recording { transcript.record(connection, .bytes(from: .harness, bytes)) }
        let sent = writeBounded(socket.fd, bytes, seconds: 2)
        guard sent == bytes.count else { throw onStall(sent, bytes.count) }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func note(_ text: String) { transcript.record(connection, .note(text)) }

    /// Resets the connection (SO_LINGER 0, then close): the server's recv fails with ECONNRESET.
    func reset() throws {
        try socket.resetOnClose()
        socket.close()
        left = true
        transcript.record(connection, .reset(by: .harness))
    }

    func close() {
        socket.close()
        left = true
        transcript.record(connection, .closed(by: .harness))
    }

    /// What came next.
    enum Next: Equatable {
        /// A whole line, without its "\n".
        case line([UInt8])
        /// Nothing more within the time given; the bytes of an unfinished line, if any.
        case nothing([UInt8])
        /// The server closed the connection (or reset it: `how` says); the bytes of an
        /// unfinished line before that, if any.
        case closed([UInt8], how: String)

        /// For "actual:" in a failure.
        var described: String {
            switch self {
            case .line(let bytes): return "the line \(escaped(bytes + [10]))"
            case .nothing(let bytes): return bytes.isEmpty ? "nothing" : "only \(escaped(bytes)), with no \"\\n\" after it"
            case .closed(let bytes, let how): return (bytes.isEmpty ? "" : "\(escaped(bytes)), then ") + "\(how): the server closed the connection"
            }
        }

        var line: String? {
            if case .line(let bytes) = self { return String(decoding: bytes, as: UTF8.self) }
            return nil
        }
    }

    /// The next whole line, waiting at most `seconds` for it.
    func next(within seconds: Double = 1) throws -> Next {
        let deadline = Clock.now + seconds
        while true {
            if let newline = pending.firstIndex(of: 10) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                return .line(line)
            }
            if let ended { return .closed(pending, how: ended) }
            let chunk: [UInt8]?
            do {
                chunk = try socket.receive(seconds: max(0, deadline - Clock.now))
            } catch {
                ended = "reset (\(errnoName(error.code)))"
                transcript.record(connection, .reset(by: .learner))
                continue
            }
            guard let chunk else { return .nothing(pending) }
            if chunk.isEmpty {
                ended = "end-of-file"
                transcript.record(connection, .closed(by: .learner))
                continue
            }
            if recording {
                transcript.record(connection, .bytes(from: .learner, chunk))
            } else {
                unrecordedBytes += chunk.count
            }
            pending += chunk
        }
    }

    /// Up to `count` lines, all within `seconds`; fewer when the time runs out or the server
    /// closes (`end` says which).
    func lines(_ count: Int, within seconds: Double) throws -> (lines: [[UInt8]], end: Next?) {
        let deadline = Clock.now + seconds
        var lines: [[UInt8]] = []
        while lines.count < count {
            let next = try next(within: max(0, deadline - Clock.now))
            guard case .line(let line) = next else { return (lines, next) }
            lines.append(line)
        }
        return (lines, nil)
    }

    /// True when the server closes the connection within `seconds`; whatever comes before
    /// the end is read and handed back.
    func closes(within seconds: Double) throws -> (closed: Bool, before: [[UInt8]], unfinished: [UInt8]) {
        let deadline = Clock.now + seconds
        var before: [[UInt8]] = []
        while true {
            switch try next(within: max(0, deadline - Clock.now)) {
            case .line(let line): before.append(line)
            case .nothing(let bytes): return (false, before, bytes)
            case .closed(let bytes, _): return (true, before, bytes)
            }
        }
    }

    /// Bytes that arrived and were not read as lines yet, looking without waiting.
    func unread() throws -> [UInt8] {
        if case .line(let line) = try next(within: 0) { return line + [10] + pending }
        return pending
    }
}

/// The names, texts and bad inputs the lesson 8 checks draw from their seed.
enum ChatInputs {
    private static let latin = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    private static let extra = Array("0123456789_-")
    private static let han = Array("张伟王芳李娜刘洋陈静杨磊赵敏黄勇周艳吴军徐丽孙强马超朱琳胡斌郭欣何涛林丹")
    private static let other = Array("éüñçøåßœÆДЖЛМАРИЯΑΒΓΔΕΛΗΝΗאבגדمرحباकखगअ")

    /// `count` different valid nicknames: Latin letters of both cases, digits, "_" and "-",
    /// Chinese, other scripts, and some of exactly 16 bytes.
    static func names(_ count: Int, _ random: SeededGenerator) -> [String] {
        var names: [String] = []
        while names.count < count {
            let name = oneName(random)
            guard name.utf8.count <= 16, !name.isEmpty, !names.contains(name) else { continue }
            names.append(name)
        }
        return names
    }

    private static func oneName(_ random: SeededGenerator) -> String {
        switch random.int(in: 0...5) {
        case 0:  // Latin letters, either case, 1 to 10
            return String((0..<random.int(in: 1...10)).map { _ in random.pick(latin) })
        case 1:  // with digits, "_" and "-" inside
            return String(random.pick(latin)) + String((0..<random.int(in: 1...8)).map { _ in random.pick(latin + extra) })
        case 2:  // Chinese: 2 to 5 characters (6 to 15 bytes)
            return String((0..<random.int(in: 2...5)).map { _ in random.pick(han) })
        case 3:  // exactly 16 bytes, ASCII
            return String((0..<16).map { _ in random.pick(latin + extra) })
        case 4:  // exactly 16 bytes, mixed: 张伟-like (3 bytes each) and ASCII
            let chinese = random.int(in: 1...5)
            return String((0..<chinese).map { _ in random.pick(han) }) + String((0..<(16 - 3 * chinese)).map { _ in random.pick(latin) })
        default:  // other scripts (2 or 3 bytes each), up to 16 bytes
            var name = ""
            while true {
                let next = name + String(random.pick(other))
                if next.utf8.count > 16 || (name.count >= 2 && random.int(in: 0...2) == 0) { break }
                name = next
            }
            return name.isEmpty ? "Ωmega" : name
        }
    }

    /// Two bad nicknames of each kind the protocol names, drawn from the seed. Each comes with
    /// the kind, for the failure message.
    static func badNames(_ random: SeededGenerator) -> [(line: String, kind: String)] {
        let tooLong: [String] = [
            String((0..<17).map { _ in random.pick(latin) }),  // 17 ASCII bytes
            String((0..<6).map { _ in random.pick(han) }),  // 6 characters, 18 bytes
            String((0..<5).map { _ in random.pick(han) }) + "é",  // 6 characters, 17 bytes
            String((0..<15).map { _ in random.pick(latin) }) + "é",  // 16 characters, 17 bytes
        ]
        let word = String((0..<random.int(in: 2...6)).map { _ in random.pick(latin) })
        let spaced = [word + " " + String(random.pick(latin)), " " + word, word + " ", String(random.pick(han)) + " " + String(random.pick(han))]
        let punctuated = [word + "!", word + ".", "a:" + word, word + ",x", "😀", word + "@", "#" + word, word + "/"]
        var chosen: [(String, String)] = [("/nick", "empty"), ("/nick ", "empty")]
        for (kind, options) in [("17 bytes or more", tooLong), ("with a space", spaced), ("with punctuation", punctuated)] {
            var generator = random
            for name in options.shuffled(using: &generator).prefix(2) { chosen.append(("/nick \(name)", kind)) }
        }
        var generator = random
        return chosen.shuffled(using: &generator)
    }

    private static let words = ["hello", "hi", "ok", "see you", "lunch?", "张伟", "你好", "恭喜您传输成功", "😀", "naïve", "a:b", "* not an announcement", "who: nobody", "x", "1 2 3", "Ελλάδα", "  spaced  ", "tab\there", "end."]

    /// A message text: words, Chinese, emoji, spaces kept at either end; never starts with "/".
    static func text(_ random: SeededGenerator, tag: String) -> String {
        let count = random.int(in: 1...4)
        var parts = (0..<count).map { _ in random.pick(words) }
        parts.insert(tag, at: random.int(in: 0...parts.count))
        return parts.joined(separator: " ")
    }

    /// Lines that are not UTF-8, each broken a different way (two drawn per check).
    static func invalidUTF8(_ random: SeededGenerator) -> [(bytes: [UInt8], kind: String)] {
        let prefix = Array("hi ".utf8)
        let kinds: [([UInt8], String)] = [
            (prefix + [0x80] + Array(" there".utf8), "a lone continuation byte 0x80"),
            (prefix + [0xC0, 0xAF], "an overlong encoding of \"/\" (0xC0 0xAF)"),
            (prefix + [0xED, 0xA0, 0x80], "an encoded surrogate (0xED 0xA0 0x80)"),
            (prefix + [0xE4, 0xBD], "a character cut short at the end of the line (0xE4 0xBD)"),
            ([0xFF] + Array("fe".utf8), "the byte 0xFF, which UTF-8 never uses"),
            (prefix + [0xF4, 0x90, 0x80, 0x80], "a code point past U+10FFFF (0xF4 0x90 0x80 0x80)"),
        ]
        var generator = random
        return Array(kinds.shuffled(using: &generator).prefix(2))
    }

    /// Unknown commands (two drawn per check).
    static func unknownCommands(_ random: SeededGenerator) -> [String] {
        var generator = random
        return Array(["/help", "/msg someone hi", "/", "/nickname x", "/whois", "/quitting", "//", "/ who", "/me waves"].shuffled(using: &generator).prefix(2))
    }

    /// `count` distinct places to cut `length` bytes (each in 1..<length), drawn from the seed.
    static func cutPoints(_ length: Int, count: Int, _ random: SeededGenerator) -> Set<Int> {
        var cuts = Set<Int>()
        while length > 1, cuts.count < min(count, length - 1) { cuts.insert(random.int(in: 1...(length - 1))) }
        return cuts
    }

    /// `bytes` cut into `pieces` pieces (fewer when it is too short) at seeded places.
    static func split(_ bytes: [UInt8], pieces: Int, _ random: SeededGenerator) -> [[UInt8]] {
        let cuts = cutPoints(bytes.count, count: pieces - 1, random).sorted()
        return zip([0] + cuts, cuts + [bytes.count]).map { Array(bytes[$0..<$1]) }
    }
}

/// What the kernel holds between a learner's socket and the harness's end of the same
/// connection: bytes written but not yet sent on the learner's side, and bytes arrived but not
/// yet read on the harness's. A server's own queue for a client that does not read is then
/// everything it was given to send that client, less this. Nil when it cannot be read (the
/// learner's socket is gone, or the platform cannot say).
struct KernelHeld {
    let learner: Int32
    private let identity: [UInt64]?
    let harness: Int32

    /// Finds the learner's end of `client`'s connection among the sockets the harness does not own.
    init?(serverEndOf client: HarnessSocket) {
        guard let local = try? client.localAddress,
              let fd = DescriptorCensus.take().sockets.first(where: { (try? Inspect.peerAddress($0)) == local }) else { return nil }
        learner = fd
        identity = Inspect.identity(fd)
        harness = client.fd
    }

    var bytes: Int? {
        guard identity != nil, Inspect.identity(learner) == identity else { return nil }
        var unsent: Int32 = 0
        #if canImport(Darwin)
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(learner, SOL_SOCKET, SO_NWRITE, &unsent, &length) == 0 else { return nil }
        #else
        guard ioctl(learner, UInt(0x894B), &unsent) == 0 else { return nil }  // SIOCOUTQNSD: written, not yet sent
        #endif
        var unread: Int32 = 0
        guard ioctl(harness, UInt(FIONREAD), &unread) == 0 else { return nil }
        return Int(unsent) + Int(unread)
    }
}

/// The line a client sends, as bytes, and how it reads in a message.
func chatLine(_ text: String) -> [UInt8] { Array((text + "\n").utf8) }

/// A learner's chat client (runChatClient) on a thread of its own, with the harness playing
/// the server at the other end of `connection`, the keyboard (a pipe the harness writes) and
/// the screen (a pipe the harness reads).
final class RunningClient: @unchecked Sendable {
    /// The learner's end of the connection: made by the harness, the caller's to close.
    let connection: Int32
    private let connectionIdentity: [UInt64]?
    /// The harness's end, as the server.
    let server: HarnessSocket
    private let inputWrite: Int32
    private let inputRead: Int32
    private let outputRead: Int32
    private let outputWrite: Int32
    private var inputClosed = false
    private var screenClosed = false
    private var thread: LearnerThread!
    private let transcript: Transcript
    private let wire: Int
    private let keyboard: Int
    private let screen: Int

    init(_ probe: Probe, body: @escaping @Sendable (Int32, Int32, Int32) throws -> Void) throws {
        transcript = probe.transcript
        let listener = try HarnessSocket.listener()
        defer { listener.close() }
        let fd = socket(AF_INET, SocketType.stream.rawValue, 0)
        guard fd >= 0 else { throw SocketError(call: "socket") }
        let connected = try listener.localAddress.withSockAddr { SocketKit.connect(fd, $0, $1) }
        guard connected == 0, let accepted = try listener.accept(seconds: 2) else {
            _ = close(fd)
            throw SocketError(call: "connect")
        }
        connection = fd
        connectionIdentity = Inspect.identity(fd)
        server = accepted
        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        guard pipe(&input) == 0 else { throw SocketError(call: "pipe") }
        guard pipe(&output) == 0 else { throw SocketError(call: "pipe") }
        (inputRead, inputWrite, outputRead, outputWrite) = (input[0], input[1], output[0], output[1])
        wire = transcript.open("your client <-> the server (the harness)")
        keyboard = transcript.open("the keyboard (a pipe the harness writes) -> your client's input")
        screen = transcript.open("your client's output -> the screen (a pipe the harness reads)")
        let (c, i, o) = (connection, inputRead, outputWrite)
        thread = try LearnerThread(probe.random, name: "runChatClient", cleanUp: closeEverything) { try body(c, i, o) }
    }

    var result: Result<Void, any Error>? { thread.result }
    func waitForReturn(_ seconds: Double) -> Result<Void, any Error>? { thread.waitForReturn(seconds) }
    func watchWhileWaiting(_ seconds: Double, cpuLimit: Double) -> (spinning: Bool, cpu: Double) {
        thread.watchWhileWaiting(seconds, cpuLimit: cpuLimit)
    }

    /// True while the connection the learner was given is still open (checked by identity:
    /// a number closed and reused by something else does not count).
    var connectionStillOpen: Bool { connectionIdentity != nil && Inspect.identity(connection) == connectionIdentity }

    /// Types `bytes` on the keyboard, waiting at most 2 s for the client to read them (a
    /// client that stops reading its input leaves the rest untyped: the check then sees
    /// bytes missing).
    func type(_ bytes: [UInt8]) {
        let typed = writeBounded(inputWrite, bytes, seconds: 2)
        transcript.record(keyboard, .bytes(from: .harness, Array(bytes.prefix(typed))))
        if typed < bytes.count { transcript.record(keyboard, .note("the client read no more of its input for 2 s: \(bytes.count - typed) bytes left untyped")) }
    }

    /// Ctrl-D: the keyboard's end of the pipe closes.
    func endInput() {
        guard !inputClosed else { return }
        inputClosed = true
        _ = close(inputWrite)
        transcript.record(keyboard, .closed(by: .harness))
    }

    /// The harness, as the server, sends `bytes`, waiting at most 2 s for the client to take
    /// them (one that does not read leaves the rest unsent: the check then sees bytes missing).
    func serverSends(_ bytes: [UInt8]) throws {
        let sent = writeBounded(server.fd, bytes, seconds: 2)
        transcript.record(wire, .bytes(from: .harness, Array(bytes.prefix(sent))))
        if sent < bytes.count { transcript.record(wire, .note("the client took no more for 2 s: \(bytes.count - sent) bytes left unsent")) }
    }

    /// The screen goes away: the read end of the output pipe closes, and the client's next
    /// write to output fails with EPIPE.
    func screenCloses() {
        guard !screenClosed else { return }
        screenClosed = true
        _ = close(outputRead)
        transcript.record(screen, .note("the harness closed the screen's end of the pipe: a write to output now fails with EPIPE"))
    }

    /// The harness, as the server, closes (or resets) its end.
    func serverCloses(reset: Bool = false) throws {
        if reset { try server.resetOnClose() }
        server.close()
        transcript.record(wire, reset ? .reset(by: .harness) : .closed(by: .harness))
    }

    /// What the learner's client sent to the server: until `count` bytes have come, the
    /// client closes, or `seconds` pass.
    func serverReceives(_ count: Int, within seconds: Double) throws -> (bytes: [UInt8], closed: Bool) {
        let deadline = Clock.now + seconds
        var bytes: [UInt8] = []
        var closed = false
        while bytes.count < count {
            guard let chunk = try server.receive(limit: count - bytes.count, seconds: max(0, deadline - Clock.now)) else { break }
            if chunk.isEmpty { closed = true; break }
            bytes += chunk
        }
        if !bytes.isEmpty { transcript.record(wire, .bytes(from: .learner, bytes)) }
        if closed { transcript.record(wire, .closed(by: .learner)) }
        return (bytes, closed)
    }

    /// What the client wrote to the screen: until `count` bytes have come or `seconds` pass.
    func screenShows(_ count: Int, within seconds: Double) -> [UInt8] {
        let deadline = Clock.now + seconds
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while bytes.count < count, Inspect.waitReadable(outputRead, seconds: max(0, deadline - Clock.now)) {
            let got = buffer.withUnsafeMutableBytes { read(outputRead, $0.baseAddress, min($0.count, count - bytes.count)) }
            guard got > 0 else { break }
            bytes += buffer.prefix(got)
        }
        if !bytes.isEmpty { transcript.record(screen, .bytes(from: .learner, bytes)) }
        return bytes
    }

    /// Stops what may still run (the keyboard ends, the server's end closes) and closes the
    /// harness's descriptors; the connection too, unless the learner's code closed it. A
    /// client that never returns keeps its descriptors (closing them under it could hand
    /// their numbers to the next check). For `defer`.
    func tearDown() {
        endInput()
        _ = LibC.shutdown(server.fd, ShutdownHow.both)
        if waitForReturn(2) != nil { closeEverything() }
    }

    private func closeEverything() {
        if !inputClosed { _ = close(inputWrite) }
        inputClosed = true
        for fd in [inputRead, outputWrite] + (screenClosed ? [] : [outputRead]) { _ = close(fd) }
        screenClosed = true
        if connectionStillOpen { _ = close(connection) }
        server.close()
    }
}

extension Hint {
    static let chatWelcome = Hint("chat-welcome", "Answer a client's first good /nick with exactly \"welcome NAME\\n\", to that client only: the name as it was given, one space, one \"\\n\".")
    static let chatJoinAnnounced = Hint("chat-join-announced", "When a client takes its first nickname, tell every other client that has a nickname \"* NAME joined\\n\" (and not the one who joined: it got its welcome).")
    static let chatEcho = Hint("chat-echo", "Broadcast to every named client except the sender: skip the sender's descriptor in the loop that queues the message.")
    static let chatSentTwice = Hint("chat-sent-twice", "Queue each message once per receiver: a line handled twice (or a queue sent again after a partial send) shows up twice. Remove what send took from the front of the queue.")
    static let chatMissing = Hint("chat-missing", "Every whole line a named client sends is a message for every other named client: queue it for each of them, and flush each queue when poll says POLLOUT.")
    static let chatLeftovers = Hint("chat-leftovers", "One recv can bring several lines: handle every \"\\n\" in the buffer, in a loop, and keep what follows the last one for the next recv.")
    static let chatLinesSplit = Hint("chat-lines-split", "A line can come in pieces, over several recvs: keep the bytes after the last \"\\n\" in a buffer of that client's own, append the next recv to it, and handle a line only once its \"\\n\" has come.")
    static let chatUTF8PerLine = Hint("chat-utf8-per-line", "Check UTF-8 on whole lines, not on what one recv brought: a character of several bytes can be cut between two recvs.")
    static let chatOrder = Hint("chat-order", "Handle each client's lines in the order they came, and queue every message for all its receivers at once, at the end of each queue: then everyone sees the messages in the order the server read them.")
    static let chatMessageFormat = Hint("chat-message-format", "A message goes out as \"NAME: TEXT\\n\": the sender's nickname, a colon and one space, the text exactly as it came (spaces kept, only the \"\\n\" and a \"\\r\" before it removed).")
    static let chatEmptyLine = Hint("chat-empty-line", "An empty line from a named client is a message like any other: broadcast \"NAME: \\n\" (the name, a colon, a space, nothing, the \"\\n\").")
    static let chatUnnamedReceive = Hint("chat-unnamed-receive", "A client without a nickname is not in the room yet: broadcast only to clients whose nickname is set.")
    static let chatNeedsNick = Hint("chat-needs-nick", "Before a client has a nickname, answer a message or /who with \"error: pick a nickname first with /nick NAME\\n\", to it alone, and do nothing else with the line.")
    static let chatBadNickAccepted = Hint("chat-bad-nickname-accepted", "Check a nickname before taking it: 1 to 16 bytes (count name.utf8, not characters: 张 is 3 bytes), every scalar a letter (any script), a digit 0-9, \"_\" or \"-\"; nothing else, no space. Otherwise answer \"error: bad nickname\\n\".")
    static let chatGoodNickRejected = Hint("chat-good-nickname-rejected", "A nickname may be letters of any script (张伟, Мария), digits 0-9, \"_\" and \"-\", up to 16 bytes: check each Unicode scalar with properties.isAlphabetic, not only A-Z, and count bytes, up to and including 16.")
    static let chatNickTaken = Hint("chat-nick-taken", "Before giving a nickname, look at every other client's: if one has it, answer \"error: nickname taken\\n\" and keep the asker's old name (or none).")
    static let chatNickFreed = Hint("chat-nick-freed", "A nickname is free again when its owner leaves (however it leaves) or changes it: look the name up among the clients still here, not in a list that only grows.")
    static let chatWho = Hint("chat-who", "Answer /who with \"who: \" and every nickname of a client still here (the asker's too, none of the clients without one), joined by \", \", sorted by their bytes (\"Zoe\" before \"adam\"; compare name.utf8, not a case-insensitive or localized order).")
    static let chatRename = Hint("chat-rename", "A second /nick renames: answer \"ok, now NEW\\n\" to the client, tell the others \"* OLD is now NEW\\n\", and from then on use NEW (its own name again: just \"ok, now NAME\\n\").")
    static let chatQuitBye = Hint("chat-quit-bye", "Answer /quit with \"bye\\n\", then close the connection once the queue is sent; tell the others \"* NAME left\\n\" (only if it had a nickname).")
    static let chatAfterQuit = Hint("chat-after-quit", "After /quit, ignore everything else that client sent (the rest of the buffer too), and send it nothing but \"bye\\n\".")
    static let chatLeaveAnnounced = Hint("chat-leave-announced", "When a named client is gone (recv returns 0, or fails with ECONNRESET), close its connection and tell everyone still here \"* NAME left\\n\", after the lines it had sent before.")
    static let chatUnnamedAnnounced = Hint("chat-unnamed-announced", "A client that never had a nickname was never announced: when it leaves, close it and say nothing.")
    static let chatUnfinishedLine = Hint("chat-unfinished-line", "When a client disconnects, drop the bytes after its last \"\\n\": an unfinished line is not a message.")
    static let chatErrorReply = Hint("chat-error-reply", "Answer a bad line with its error, exactly as the protocol writes it, to the sender alone, and drop the line: nothing of it reaches the others, and the client stays connected.")
    static let chatLineTooLong = Hint("chat-line-too-long", "Count a line's bytes as they come: as soon as more than maxLine have come without a \"\\n\", answer \"error: line too long\\n\" (once) and drop bytes up to and including the next \"\\n\". A line of exactly maxLine bytes is fine.")
    static let chatLongLineEarly = Hint("chat-long-line-early", "Do not wait for the \"\\n\" of a line that is already too long (it may never come, and memory would grow without end): answer \"error: line too long\\n\" as soon as more than maxLine bytes of it have come.")
    static let chatLongLineTail = Hint("chat-long-line-tail", "After answering \"line too long\", remember that you are inside a dropped line, and drop every byte up to and including its \"\\n\", over as many recvs as it takes: its tail is not a new line.")
    static let chatUTF8 = Hint("chat-utf8", "Check that each line is valid UTF-8 before you act on it (String(validating: bytes, as: UTF8.self) returns nil when it is not), and answer \"error: not UTF-8\\n\" when it is not.")
    static let chatUnknownCommand = Hint("chat-unknown-command", "A line starting with \"/\" is a command: /nick, /who and /quit (the first word), anything else is answered \"error: unknown command\\n\" and is never broadcast.")
    static let chatCarriageReturn = Hint("chat-carriage-return", "Drop one \"\\r\" just before the \"\\n\" (\"\\r\\n\" line ends, from nc or telnet), and only that one: a \"\\r\" inside a line stays.")
    static let chatSlowClientBlocks = Hint("chat-slow-client-blocks", "Never send to a client in a way that waits: queue the bytes for it, send from the queue when poll says POLLOUT on a non-blocking socket, and keep what EAGAIN left for later. One client that does not read must not hold the others up.")
    static let chatNoQueueCap = Hint("chat-no-queue-cap", "Each client's queue is bounded: when adding a line would make it hold more than maxQueued bytes, close that client and announce \"* NAME left\\n\". Memory must not grow without end for a client that does not read.")
    static let chatQueueCapEarly = Hint("chat-queue-cap-early", "Disconnect a client only when its queue (bytes waiting that send has not taken) would pass maxQueued: a full kernel buffer or one EAGAIN is not yet a reason.")
    static let chatClientBlocks = Hint("chat-client-blocks", "Poll the connection and the input together, and read only the one poll says is ready: a read of the keyboard that waits holds up what the server says, and a recv that waits holds up what is typed.")
    static let chatClientRelay = Hint("chat-client-relay", "Send every byte read from input to the server, as it is (no extra or missing \"\\n\"), and write every byte the server sends to output, as it comes (write in a loop until all is written).")
    static let chatClientQuit = Hint("chat-client-quit", "When read on input returns 0, send \"/quit\\n\" once, stop polling input (an ended input is always readable), and keep relaying the server until it closes.")
    static let chatClientWaits = Hint("chat-client-waits-for-close", "After input ends, do not return yet: the server still answers (\"bye\", and what others said meanwhile). Keep writing what it sends to output until recv returns 0, then return.")
    static let chatClientReturns = Hint("chat-client-returns", "When recv on the connection returns 0 the server has gone: return at once (without waiting for more input).")
    static let chatClientReset = Hint("chat-client-reset", "A call that fails is an error, not an end: recv or send failing with ECONNRESET (the server reset), or write to output failing with EPIPE (nobody reads it any more). Throw SocketError(call:) naming that call.")
    static let chatClientClosesConnection = Hint("chat-client-closes-connection", "The connection is the caller's: return without closing it (the caller closes it, and may still want to ask it something).")
    static let chatClientSpins = Hint("chat-client-spins", "Block in poll (timeout -1) on the descriptors that can still bring something: stop polling input once it has ended (poll reports an ended pipe as ready for ever), and ask for POLLOUT only while bytes wait to be sent.")
}

/// A learner's chat server on a thread of its own, and the clients the harness plays
/// against it, with the expectations every lesson 8 check shares.
final class ChatScene {
    let probe: Probe
    let server: RunningServer
    private(set) var clients: [ChatClient] = []

    init(_ probe: Probe, sendBuffer: Int32? = nil, body: @escaping @Sendable (Int32, Int32) throws -> Void) throws {
        self.probe = probe
        server = try RunningServer(probe.random, sendBuffer: sendBuffer, body: body)
    }

    /// Closes the harness's clients (a server stuck sending to one wakes up), then stops the server.
    func tearDown() {
        for client in clients { client.socket.close() }
        server.tearDown()
    }

    /// A new client, connected, without a nickname.
    func connect(receiveBuffer: Int32? = nil) throws -> ChatClient {
        let client = try ChatClient(server.address, number: clients.count + 1, transcript: probe.transcript, receiveBuffer: receiveBuffer)
        client.onStall = { [unowned self, unowned client] sent, total in
            self.fail(expected: "the server to keep reading what \(client.label) sends", actual: "it took \(sent) of \(total) bytes, then nothing more for 2 s: it had stopped reading", hint: .chatSlowClientBlocks)
        }
        clients.append(client)
        return client
    }

    /// As many new clients as `names`, all connected first, then each taking its name in turn.
    func connectAndJoin(_ names: [String]) throws -> [ChatClient] {
        let clients = try names.map { _ in try connect() }
        for (client, name) in zip(clients, names) { try join(client, as: name) }
        return clients
    }

    /// The clients with a nickname that are still connected, as far as the check knows.
    var named: [ChatClient] { clients.filter { $0.name != nil && $0.ended == nil && !$0.left } }

    /// A failure; or, when the server has returned or thrown meanwhile, that instead: it is
    /// what went wrong first.
    func fail(expected: String, actual: String, hint: Hint) -> any Error {
        if let result = server.result {
            return Lesson07Grading.returnedEarly(result, probe: probe, while: "\(clients.count) chat clients had connected")
        }
        return probe.fail(expected: expected, actual: actual, hint: hint)
    }

    /// The next line `client` receives must be `line` (because of `why`); `hint` names the
    /// mistake, given what came instead.
    func expect(_ client: ChatClient, _ line: String, _ why: String, within seconds: Double = 1, hint: (ChatClient.Next) -> Hint) throws {
        let next = try client.next(within: seconds)
        guard next.line != line else { return }
        throw fail(
            expected: "\(client.label) to receive \(escaped(Array((line + "\n").utf8))) (\(why))",
            actual: "the next thing it received was \(next.described)" + (next == .nothing([]) ? " within \(Probe.secondsText(seconds))" : ""),
            hint: hint(next))
    }

    /// The next lines `client` receives must be `lines`, in any order (events of different
    /// clients that happened at once).
    func expectInAnyOrder(_ client: ChatClient, _ lines: [String], _ why: String, within seconds: Double = 1, hint: (ChatClient.Next) -> Hint) throws {
        var waiting = lines
        while !waiting.isEmpty {
            let next = try client.next(within: seconds)
            guard let line = next.line, let index = waiting.firstIndex(of: line) else {
                throw fail(
                    expected: "\(client.label) to receive \(waiting.map { escaped(Array(($0 + "\n").utf8)) }.joined(separator: " and ")) (\(why)), in any order",
                    actual: "the next thing it received was \(next.described)" + (next == .nothing([]) ? " within \(Probe.secondsText(seconds))" : ""),
                    hint: hint(next))
            }
            waiting.remove(at: index)
        }
    }

    /// `client` takes `name` with its first /nick: it is welcomed and every other named
    /// client is told, as the next line each receives.
    func join(_ client: ChatClient, as name: String, lineEnd: String = "\n", firstLineHint: ((ChatClient.Next) -> Hint?)? = nil) throws {
        let others = named
        try client.send("/nick \(name)\(lineEnd)")
        try expect(client, "welcome \(name)", "its answer to its first /nick \(name)") { next in
            if let hint = firstLineHint?(next) { return hint }
            if next.line == "error: bad nickname" { return .chatGoodNickRejected }
            if next.line == "error: nickname taken" { return .chatNickFreed }
            // It had no nickname until now: an announcement or a message came to it meanwhile.
            if let line = next.line, line.hasPrefix("* ") || others.contains(where: { line.hasPrefix("\($0.name!): ") }) { return .chatUnnamedReceive }
            return .chatWelcome
        }
        client.name = name
        for other in others {
            try expect(other, "* \(name) joined", "\(client.label) took its first nickname") { _ in .chatJoinAnnounced }
        }
    }

    /// Proves that no named client received anything it should not have: a message from one
    /// named client, then from another, must each be the very next line every other named
    /// client receives. What came first instead is the mistake; `explain` names it (nil: the
    /// usual suspects, then `fallback`).
    func sync(_ situation: String, fallback: Hint, explain: (ChatClient, ChatClient.Next) -> Hint? = { _, _ in nil }) throws {
        let members = named
        guard members.count >= 2 else { return }
        for (index, sender) in members.prefix(2).enumerated() {
            let text = "sync \(index + 1) #\(probe.random.int(in: 1000...9999))"
            sender.note("the harness checks that nothing else was sent after \(situation): the next line each other client receives must be this one's \"\(text)\"")
            try sender.send(chatLine(text))
            for receiver in members where receiver !== sender {
                try expect(receiver, "\(sender.name!): \(text)", "the next line after \(situation)") { next in
                    explain(receiver, next) ?? usualSuspect(receiver, next) ?? fallback
                }
            }
        }
    }

    /// The usual reasons for a line a named client should not have received.
    private func usualSuspect(_ receiver: ChatClient, _ next: ChatClient.Next) -> Hint? {
        guard let line = next.line, let own = receiver.name else { return next == .nothing([]) ? .chatMissing : nil }
        if line.hasPrefix("\(own): ") { return .chatEcho }
        if line == "* \(own) joined" { return .chatJoinAnnounced }
        if line.hasPrefix("error: ") { return .chatErrorReply }
        if clients.contains(where: { $0.name != nil && $0 !== receiver && line.hasPrefix("\($0.name!): ") }) { return .chatSentTwice }
        return nil
    }

    /// What `client` received up to its end, once the server closes it: the lines before,
    /// whether it closed within `seconds`.
    func expectClosed(_ client: ChatClient, within seconds: Double) throws -> (closed: Bool, before: [[UInt8]]) {
        let (closed, before, unfinished) = try client.closes(within: seconds)
        return (closed, before + (unfinished.isEmpty ? [] : [unfinished]))
    }

    /// One message a client sends, and where it was in its send.
    struct Planned {
        let sender: ChatClient
        let texts: [String]
        /// Indices of texts that were not the first line of the send that carried them.
        let notFirst: Set<Int>
    }

    /// Every named client but the sender receives each planned message once, each sender's
    /// in order, and every two receivers see the messages they share in the same order.
    /// `mangled` names the mistake when a line is not one that was sent, `missing` when
    /// some never came (given whether a message that was not first in its send went missing).
    func expectMessages(_ plan: [Planned], within seconds: Double, mangled: Hint, missing: (Bool) -> Hint) throws {
        // Everything each receiver got first (one deadline for all), then the verdict: a line
        // that was never sent explains more than an error reply, a repeat or a gap does.
        let deadline = Clock.now + seconds
        var received: [(receiver: ChatClient, lines: [[UInt8]], end: ChatClient.Next?, total: Int)] = []
        for receiver in named {
            let total = plan.filter { $0.sender !== receiver }.map(\.texts.count).reduce(0, +)
            let (lines, end) = try receiver.lines(total, within: max(0.05, deadline - Clock.now))
            received.append((receiver, lines, end, total))
        }
        let what = { (total: Int) in "the \(total) messages the other named clients sent, each once, each sender's in the order sent" }
        func sender(of text: String) -> Int? { plan.firstIndex { text.hasPrefix("\($0.sender.name!): ") } }
        func body(_ line: [UInt8], _ index: Int) -> String { String(decoding: line.dropFirst(plan[index].sender.name!.utf8.count + 2), as: UTF8.self) }
        // A line some sender never sent: the worst news, wherever it is.
        for (receiver, lines, _, total) in received {
            for (number, line) in lines.enumerated() {
                let text = String(decoding: line, as: UTF8.self)
                guard let index = sender(of: text), plan[index].sender !== receiver else { continue }
                let body = body(line, index)
                guard !plan[index].texts.contains(body) else { continue }
                let texts = plan[index].texts
                let near = texts.contains { !body.isEmpty && $0 != body && ($0.contains(body) || body.contains($0)) }
                let format = texts.contains { $0.trimmingCharacters(in: .whitespaces) == body.trimmingCharacters(in: .whitespaces) }
                throw fail(expected: "\(receiver.label) to receive \(what(total))", actual: "line \(number + 1) of what it received was \(escaped(line + [10])), which \(plan[index].sender.label) never sent as one line" + (format ? " (it sent it with other spaces at its ends)" : near ? " (it is part of a line it sent, or more than one)" : ""), hint: format ? .chatMessageFormat : mangled)
            }
        }
        var orders: [(receiver: ChatClient, seen: [(sender: Int, message: Int)])] = []
        for (receiver, lines, end, total) in received {
            var seen: [(sender: Int, message: Int)] = []
            for (number, line) in lines.enumerated() {
                let text = String(decoding: line, as: UTF8.self)
                let at = "line \(number + 1) of what it received was \(escaped(line + [10]))"
                guard let index = sender(of: text) else {
                    let hint: Hint = text.hasPrefix("\(receiver.name!): ") ? .chatEcho
                        : text == "error: not UTF-8" ? .chatUTF8PerLine
                        : plan.contains(where: { $0.texts.contains(text) }) || text.contains(":") ? .chatMessageFormat : mangled
                    throw fail(expected: "\(receiver.label) to receive \(what(total))", actual: at + (hint == .chatEcho ? ", its own message" : ", which is no message that was sent"), hint: hint)
                }
                if plan[index].sender === receiver {
                    throw fail(expected: "\(receiver.label) to receive \(what(total)), never its own", actual: at + ": its own message, sent back to it", hint: .chatEcho)
                }
                let message = plan[index].texts.firstIndex(of: body(line, index))!
                if seen.contains(where: { $0 == (index, message) }) {
                    throw fail(expected: "\(receiver.label) to receive \(what(total))", actual: at + ", which it had received already", hint: .chatSentTwice)
                }
                if let last = seen.last(where: { $0.sender == index }), last.message > message {
                    throw fail(expected: "\(receiver.label) to receive \(what(total))", actual: at + ", which \(plan[index].sender.label) sent before \(escaped(Array(plan[index].texts[last.message].utf8))), received earlier", hint: .chatOrder)
                }
                seen.append((index, message))
            }
            if lines.count < total {
                var absent: [String] = []
                var notFirstAbsent = false
                var onlyEmpty = true
                for (index, entry) in plan.enumerated() where entry.sender !== receiver {
                    for (message, text) in entry.texts.enumerated() where !seen.contains(where: { $0 == (index, message) }) {
                        absent.append("\(entry.sender.name!): \(text)")
                        if entry.notFirst.contains(message) { notFirstAbsent = true }
                        if !text.isEmpty { onlyEmpty = false }
                    }
                }
                let shown = absent.prefix(3).map { escaped(Array(($0 + "\n").utf8)) }.joined(separator: ", ") + (absent.count > 3 ? " and \(absent.count - 3) more" : "")
                throw fail(expected: "\(receiver.label) to receive \(what(total))", actual: "it received \(lines.count) of them, then \(end?.described ?? "nothing") within \(Probe.secondsText(seconds)); missing: \(shown)", hint: onlyEmpty ? .chatEmptyLine : missing(notFirstAbsent))
            }
            orders.append((receiver, seen))
        }
        // Every two receivers: the messages both received, in the same order.
        for (first, second) in zip(orders, orders.dropFirst()) {
            let common = { (seen: [(sender: Int, message: Int)]) in
                seen.filter { plan[$0.sender].sender !== first.receiver && plan[$0.sender].sender !== second.receiver }.map { "\($0.sender).\($0.message)" }
            }
            guard common(first.seen) == common(second.seen) else {
                throw fail(expected: "\(first.receiver.label) and \(second.receiver.label) to receive the messages they both get in the same order (the order the server read them)", actual: "their orders differ", hint: .chatOrder)
            }
        }
    }

    /// The nicknames sorted the way /who must list them: by their bytes.
    static func whoLine(_ names: [String]) -> String {
        "who: " + names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.joined(separator: ", ")
    }

    /// The server's descriptors, less the harness's, must come down to `expected` within
    /// half a second (it may close a connection a poll round after the harness saw its effect).
    func expectServerDescriptors(_ expected: Int, since baseline: DescriptorCensus, situation: String, hint: Hint) throws {
        let deadline = Clock.now + 0.5
        var left = Lesson07Grading.leftOpen(since: baseline, server: server)
        while left.count > expected && Clock.now < deadline {
            Thread.sleep(forTimeInterval: 0.02)
            left = Lesson07Grading.leftOpen(since: baseline, server: server)
        }
        guard left.count <= expected else {
            throw fail(expected: "\(expected) connection(s) open on the server's side (one per client still connected) \(situation)", actual: "\(left.count) open: \(left.map(Inspect.describe).prefix(4).joined(separator: "; "))", hint: hint)
        }
    }
}
