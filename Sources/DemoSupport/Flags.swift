import SocketKit

// Range checks for the demos' flags. Every value a demo accepts must mean what it says:
// a number of seconds too big for the conversions it goes through (`Int(1e19)` traps, so
// does `Int32(3000000 * 1000)`), or too small for a `timeval` (0.0000001 s becomes a zero
// timeval, which means "no timeout at all"), is refused here, with its range in the line.

/// The seconds every duration flag accepts: from a millisecond to a day.
public let secondsRange: ClosedRange<Double> = 0.001...86_400

extension DemoCommand {
    /// A port number from a flag's text, or exit 2.
    public func port(_ text: String, flag: String = "port") -> UInt16 {
        guard let port = UInt16(text) else { fail("--\(flag) must be a number from 0 to 65535, not \(shown(text))") }
        return port
    }

    /// A whole number within `range` from a flag's text, or exit 2.
    public func count(_ text: String, flag: String, range: ClosedRange<Int> = 1...1_000_000) -> Int {
        guard let count = Int(text), range.contains(count) else {
            fail("--\(flag) must be a whole number from \(range.lowerBound) to \(range.upperBound), not \(shown(text))")
        }
        return count
    }

    /// A number of seconds (0.5 allowed) within `secondsRange` from a flag's text, or exit 2.
    public func seconds(_ text: String, flag: String) -> Double {
        guard let seconds = Double(text), secondsRange.contains(seconds) else {  // NaN is in no range
            fail("--\(flag) must be a number of seconds from \(plain(secondsRange.lowerBound)) to \(plain(secondsRange.upperBound)) (like 2 or 0.5), not \(shown(text))")
        }
        return seconds
    }
}

/// A number of seconds as a person writes it: 86400 rather than 86400.0; 0.001 as it is.
public func plain(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
}

/// `seconds` as a `timeval`, without trapping on any value: it is first brought into
/// `secondsRange`, so it is never 0 (which would mean "no timeout") and never too big
/// for `Int`.
public func makeTimeval(seconds: Double) -> timeval {
    let clamped = seconds.isNaN ? secondsRange.upperBound : min(max(seconds, secondsRange.lowerBound), secondsRange.upperBound)
    let whole = clamped.rounded(.down)
    let micros = ((clamped - whole) * 1_000_000).rounded()
    // Rounding can carry into the next second (0.9999999 s).
    if micros >= 1_000_000 { return timeval(tv_sec: .init(Int(whole) + 1), tv_usec: 0) }
    return timeval(tv_sec: .init(Int(whole)), tv_usec: .init(Int(micros)))
}
