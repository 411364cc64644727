import Foundation

/// The seed that every random size, split point and gap in a grading run comes from.
///
/// `WORKBOOK_SEED=S` (or `workbook check N --seed S`) picks it; without it the seed is
/// `defaultValue`, so CI and two runs of the same answer see the same inputs. Every failure
/// prints the seed, so the learner can replay exactly the inputs that caught the mistake.
public enum GradingSeed {
    public static let defaultValue: UInt64 = 1

    public static let value: UInt64 = {
        guard let text = ProcessInfo.processInfo.environment["WORKBOOK_SEED"], let seed = UInt64(text) else {
            return defaultValue
        }
        return seed
    }()

    /// A generator for one check: the run's seed mixed with the check's name, so that
    /// adding a check elsewhere never changes this check's inputs.
    public static func generator(for check: String) -> SeededGenerator {
        // FNV-1a: Swift's own Hasher is seeded afresh in every process.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in check.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return SeededGenerator(seed: value ^ hash)
    }
}

/// SplitMix64: small, fast, and the same sequence on every platform for a given seed.
/// Shared between the check and the peers it starts, so it locks.
public final class SeededGenerator: RandomNumberGenerator, @unchecked Sendable {
    private let lock = NSLock()
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public func next() -> UInt64 {
        lock.withLock {
            state = state &+ 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce5_e9b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    /// A number in `range`, drawn from this generator.
    public func int(in range: ClosedRange<Int>) -> Int {
        var copy = self
        return Int.random(in: range, using: &copy)
    }

    /// `count` bytes drawn from this generator (never all one value, so an off-by-one shows).
    public func bytes(_ count: Int) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            var word = next()
            for _ in 0..<min(8, count - result.count) {
                result.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return result
    }

    /// An element of `items`, drawn from this generator.
    public func pick<T>(_ items: [T]) -> T {
        items[int(in: 0...(items.count - 1))]
    }
}
