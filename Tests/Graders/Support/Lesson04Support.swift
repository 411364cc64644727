import Foundation
import GradingHarness
import SocketKit

// Helpers for Lesson04ReceiveGrader: connections whose harness end the check drives itself
// (several things at once, with timings), and the comparisons that pick a hint from what
// was observed.

/// Work on a thread of its own, waited for with a bound.
final class Lesson04Background<Value: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var value: Value?

    init(_ name: String, _ body: @escaping @Sendable () -> Value) {
        let thread = Thread { [self] in
            let result = body()
            lock.withLock { value = result }
            done.signal()
        }
        thread.name = "harness: \(name)"
        thread.start()
    }

    /// The result, or nil if it had not finished after `seconds`.
    func wait(seconds: Double) -> Value? {
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        done.signal()
        return lock.withLock { value }
    }
}

/// What a slow reader got: the bytes, whether end-of-file came, and how many reads.
struct SlowRead: Sendable {
    var bytes: [UInt8] = []
    var endOfFile = false
    var reads = 0
    var error: SocketError?
}

/// Reads until end-of-file or `seconds`: at most `chunk` bytes per recv, and after the
/// total first passes each of `pauses`' offsets, stops reading for that long (the sender's
/// buffers fill up, and its sends come back short or with EAGAIN).
func readSlowly(_ socket: HarnessSocket, chunk: Int, pauses: [(at: Int, seconds: Double)], seconds: Double) -> SlowRead {
    let deadline = Clock.now + seconds
    var read = SlowRead()
    var pending = pauses.sorted { $0.at < $1.at }
    do {
        while let piece = try socket.receive(limit: chunk, seconds: max(0, deadline - Clock.now)) {
            if piece.isEmpty { read.endOfFile = true; break }
            read.bytes += piece
            read.reads += 1
            while let next = pending.first, read.bytes.count >= next.at {
                pending.removeFirst()
                Thread.sleep(forTimeInterval: next.seconds)
            }
        }
    } catch {
        read.error = error
    }
    return read
}

/// Sets an integer socket option on the learner's socket before the call (the caller's
/// choice: a small send buffer, a send timeout), so that its sends come back short.
func makeSendsShort(_ fd: Int32, sendBuffer: Int32, sendTimeout: Double) throws {
    var size = sendBuffer
    guard setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
        throw SocketError(call: "setsockopt(SO_SNDBUF)")
    }
    let whole = Int(sendTimeout)
    var timeout = timeval(tv_sec: whole, tv_usec: .init((sendTimeout - Double(whole)) * 1_000_000))
    guard setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
        throw SocketError(call: "setsockopt(SO_SNDTIMEO)")
    }
}

/// Seeded cut points: `bytes` split into `count` pieces of random sizes (none empty when
/// there are enough bytes).
func seededPieces(of bytes: [UInt8], count: Int, random: SeededGenerator) -> [[UInt8]] {
    guard count > 1, bytes.count > count else { return [bytes] }
    var cuts = Set<Int>()
    while cuts.count < count - 1 { cuts.insert(random.int(in: 1...(bytes.count - 1))) }
    var result: [[UInt8]] = []
    var start = 0
    for cut in cuts.sorted() + [bytes.count] {
        result.append(Array(bytes[start..<cut]))
        start = cut
    }
    return result
}

/// A 4-byte big-endian length, then the bytes.
func lengthPrefixed(_ bytes: [UInt8]) -> [UInt8] {
    let length = UInt32(bytes.count)
    return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + bytes
}

/// Seeded bytes without `excluded` in them (a line's bytes must not hold its "\n").
func seededBytes(_ count: Int, _ random: SeededGenerator, excluding excluded: UInt8? = nil) -> [UInt8] {
    var bytes = random.bytes(count)
    if let excluded {
        for index in bytes.indices where bytes[index] == excluded { bytes[index] = excluded &+ 1 }
    }
    return bytes
}

/// How two byte strings differ, in the words a hint is chosen by.
enum ByteShape: Equatable {
    case same
    /// What came is the start of what was expected, and stops early.
    case short
    /// What was expected came whole, then more bytes that are all zeros (an unused buffer).
    case trailingZeros
    /// What was expected came whole, then more bytes (taken from what followed).
    case long
    /// A stretch of zeros where bytes were expected: a buffer's unused part.
    case zerosInside
    /// Anything else: pieces overwritten, reordered or lost in the middle.
    case scrambled

    init(expected: [UInt8], actual: [UInt8]) {
        if difference(expected: expected, actual: actual) == nil { self = .same; return }  // memcmp: fast on big payloads
        let common = min(expected.count, actual.count)
        let firstDifference = (0..<common).first { expected[$0] != actual[$0] }
        if firstDifference == nil {
            if actual.count < expected.count { self = .short; return }
            self = actual[expected.count...].allSatisfy { $0 == 0 } ? .trailingZeros : .long
            return
        }
        // Zeros from the first difference on (at least 8, or to the end) where the
        // expected bytes are not zeros: the tail of a buffer that recv never filled.
        let offset = firstDifference!
        let run = actual[offset...].prefix { $0 == 0 }.count
        let expectedZeros = expected[offset...].prefix { $0 == 0 }.count
        if run > expectedZeros && (run >= 8 || offset + run == actual.count) {
            self = .zerosInside
        } else {
            self = .scrambled
        }
    }

    /// In words, for `actual:` lines.
    var words: String {
        switch self {
        case .same: return "the same bytes"
        case .short: return "fewer bytes than expected"
        case .trailingZeros: return "the expected bytes, then zeros that never crossed the wire"
        case .long: return "the expected bytes, then bytes that belong to what follows"
        case .zerosInside: return "zeros where bytes were expected"
        case .scrambled: return "bytes out of place"
        }
    }
}

/// Compares bytes, and fails with a hint picked from how they differ; `hints` maps each
/// shape to its hint (a shape with no entry gets `otherwise`).
func expectSameBytes(
    _ expected: [UInt8], _ actual: [UInt8], probe: Probe, what: String = "",
    hints: [ByteShape: Hint] = [:], otherwise: Hint
) throws {
    let shape = ByteShape(expected: expected, actual: actual)
    guard shape != .same, let difference = difference(expected: expected, actual: actual) else { return }
    throw probe.fail(
        expected: "\(what.isEmpty ? "" : what + ": ")\(expected.count) bytes \(escaped(expected))",
        actual: "\(actual.count) bytes \(escaped(actual)): \(difference)",
        hint: hints[shape] ?? otherwise)
}

/// A SocketError with one of `codes`, from any call (read, recvmsg and poll styles name
/// their own calls); anything else fails with a hint chosen from what happened instead.
func expectSocketFailure<Value>(
    _ outcome: Result<Value, any Error>, codes: [Int32], probe: Probe, function: String, input: String,
    returnedHint: Hint, closedHint: Hint, otherHint: Hint, returnedHintFor: (Value) -> Hint? = { _ in nil }
) throws {
    let names = codes.map(errnoName).joined(separator: " or ")
    let expected = "\(function) on \(input) to throw SocketError with \(names)"
    switch outcome {
    case .success(let value):
        throw probe.fail(expected: expected, actual: describeLearnerReturn(value), hint: returnedHintFor(value) ?? returnedHint)
    case .failure(let error as SocketError) where codes.contains(error.code):
        return
    case .failure(let error as SocketError):
        // The failure was seen, but with another call's errno: read too late.
        throw probe.fail(expected: expected, actual: "it threw \(error)", hint: .errnoLate)
    case .failure(let error as ConnectionClosed):
        throw probe.fail(expected: expected, actual: "it threw ConnectionClosed: \(error)", hint: closedHint)
    case .failure(let error):
        throw probe.fail(expected: expected, actual: "it threw \(type(of: error)): \(error)", hint: otherHint)
    }
}

/// "it returned 3 bytes "abc"", "it returned nil", "it returned without throwing".
func describeLearnerReturn<Value>(_ value: Value) -> String {
    if let bytes = value as? [UInt8] { return "it returned \(bytes.count) bytes \(escaped(bytes))" }
    if let line = value as? [UInt8]? { return line.map { "it returned the line \(escaped($0))" } ?? "it returned nil (end of input)" }
    return Probe.returned(value)
}

/// A value the learner's code mutates from the grader's worker thread.
final class Lesson04Box<Value>: @unchecked Sendable {
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withValue<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result { try body(&value) }
}
