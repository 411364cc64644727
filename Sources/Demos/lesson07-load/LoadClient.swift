import DemoSupport
import SocketKit

/// What every client of the run does, and where.
struct LoadPlan {
    let address: SocketAddress
    let clients: Int
    let messages: Int
    let size: Int
    /// The longest wait for a connection, and for each echo to begin or go on.
    let wait: Double
}

/// The bytes the clients send: byte i of this buffer is i mod 256. A message is a stretch
/// of the ramp starting at a point that depends on the client and the message, so an echo
/// that went to the wrong client, or came back out of order, does not match. No message
/// is stored: any piece of one is a slice of this buffer.
let chunkSize = 65_536
let ramp: [UInt8] = (0..<(chunkSize + 256)).map { UInt8(truncatingIfNeeded: $0) }

/// One client of the load: it connects, then sends each of its messages and waits until
/// the whole echo is back, checking every byte, before it sends the next. It sends and
/// receives at the same time, so a message larger than the sockets' buffers cannot jam
/// (the echo is read while the rest of the message is still going out).
struct LoadClient {
    enum Phase { case connecting, exchanging, finished }
    enum Outcome {
        case served
        /// A connect that failed, kept apart: if every client's did, nothing is listening.
        case refused(SocketError)
        case failed(String)
        case timedOut(String)
    }

    let number: Int
    let plan: LoadPlan
    private(set) var fd: Int32 = -1
    private(set) var phase = Phase.connecting
    private(set) var outcome: Outcome?
    /// Whether it got every echo back, exactly.
    var wasServed: Bool { if case .served = outcome { true } else { false } }
    /// Seconds from the start of its connect to its first whole echo.
    private(set) var firstEchoWait: Double?
    /// Echoed bytes received (and checked) in all.
    private(set) var echoed = 0
    /// When the current wait (for the connection, or for the next bytes of an echo) gives up.
    private(set) var deadline: Double
    private let startedAt: Double
    private var message = 0
    private var sent = 0
    private var received = 0
    private var roundStartedAt = 0.0

    /// Starts connecting.
    init(number: Int, plan: LoadPlan, now: Double) {
        self.number = number
        self.plan = plan
        startedAt = now
        deadline = now + plan.wait
        do {
            let (fd, connected) = try startConnecting(to: plan.address)
            self.fd = fd
            if connected { startMessage() }
        } catch let error as SocketError {
            end(error.call == "connect" ? .refused(error) : .failed("\(error)"))
        } catch {
            end(.failed("\(error)"))
        }
    }

    /// What to ask poll for: the end of the handshake; then the echo, and room to send
    /// while some of the message has not gone out.
    var events: Int16 {
        switch phase {
        case .connecting: Int16(POLLOUT)
        case .exchanging: Int16(POLLIN) | (sent < plan.size ? Int16(POLLOUT) : 0)
        case .finished: 0
        }
    }

    /// Acts on what poll said. Returns a round trip's seconds when an echo is complete.
    mutating func handle(_ revents: Int16, buffer: inout [UInt8]) -> Double? {
        if phase == .connecting {
            if let failure = connectResult(fd) { end(.refused(failure)) } else { startMessage() }
            return nil
        }
        var roundTrip: Double?
        if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { roundTrip = receive(into: &buffer) }
        if phase == .exchanging { sendMore() }
        return roundTrip
    }

    /// Gives up when the current wait has lasted `plan.wait` seconds.
    mutating func checkDeadline(_ now: Double) {
        guard phase != .finished, now >= deadline else { return }
        let wait = plain(plan.wait)
        end(.timedOut(phase == .connecting ? "no connection within \(wait) s"
            : received == 0 ? "no echo of message \(message + 1) within \(wait) s"
            : "the echo of message \(message + 1) stopped for \(wait) s after \(received) of \(plan.size) bytes"))
    }

    /// Where message `message` starts on the ramp.
    private var start: Int { (number &* 7 &+ message &* 13) & 255 }

    private mutating func startMessage() {
        phase = .exchanging
        sent = 0
        received = 0
        roundStartedAt = monotonicSeconds()
        deadline = roundStartedAt + plan.wait
        sendMore()  // there is almost always room: no need to wait for POLLOUT first
    }

    private mutating func sendMore() {
        guard sent < plan.size else { return }
        let offset = (start + sent) % 256
        let count = min(plan.size - sent, chunkSize)
        let written = ramp.withUnsafeBytes { send(fd, $0.baseAddress! + offset, count, sendNoSignal) }
        if written > 0 {
            sent += written
        } else if written < 0 && ![EAGAIN, EWOULDBLOCK, EINTR].contains(errno) {
            end(.failed("message \(message + 1): \(SocketError(call: "send"))"))
        }
    }

    /// Reads what has come of the echo and checks it; returns the round trip when it is whole.
    private mutating func receive(into buffer: inout [UInt8]) -> Double? {
        let wanted = min(plan.size - received, buffer.count)
        let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, wanted, 0) }
        if got < 0 {
            if ![EAGAIN, EWOULDBLOCK, EINTR].contains(errno) { end(.failed("message \(message + 1): \(SocketError(call: "recv"))")) }
            return nil
        }
        guard got > 0 else {
            end(.failed("the server closed the connection after \(message) of \(plan.messages) echoes"))
            return nil
        }
        let offset = (start + received) % 256
        if !matches(buffer, ramp, from: offset, count: got) {
            let bad = (0..<got).first { buffer[$0] != ramp[offset + $0] } ?? 0
            end(.failed("the echo of message \(message + 1) differs at byte \(received + bad): 0x\(hex(buffer[bad])), not 0x\(hex(ramp[offset + bad]))"))
            return nil
        }
        received += got
        echoed += got
        deadline = monotonicSeconds() + plan.wait  // a long echo is not late while it keeps coming
        return received == plan.size ? messageEchoed() : nil
    }

    /// A whole echo is back: note the times, then start the next message or finish.
    private mutating func messageEchoed() -> Double {
        let now = monotonicSeconds()
        if firstEchoWait == nil { firstEchoWait = now - startedAt }
        let roundTrip = now - roundStartedAt
        message += 1
        if message == plan.messages { end(.served) } else { startMessage() }
        return roundTrip
    }

    /// Closes the connection at once (a thousand clients: free each descriptor when done).
    private mutating func end(_ outcome: Outcome) {
        self.outcome = outcome
        phase = .finished
        if fd >= 0 { _ = close(fd) }
        fd = -1
    }
}

/// Whether the first `count` bytes of `received` are `expected`'s from `offset` on. One
/// memcmp, rather than a loop of Swift comparisons: in a debug build (`swift run`) the loop
/// would cost the tool more time than the server takes to answer, and show up as latency.
private func matches(_ received: [UInt8], _ expected: [UInt8], from offset: Int, count: Int) -> Bool {
    received.withUnsafeBytes { got in
        expected.withUnsafeBytes { want in memcmp(got.baseAddress!, want.baseAddress! + offset, count) == 0 }
    }
}
