import Foundation
import SocketKit

/// What a thread is doing, seen from another thread: the processor time it has used, and
/// (on Linux) whether the scheduler holds it as running or ready to run, rather than asleep
/// in a system call.
///
/// Processor time alone misjudges a busy machine: a loop that never waits may get only a
/// small share of a core when every core is wanted, and then looks like a wait. Such a loop
/// is still always runnable ('R' in /proc/self/task/TID/stat), which a thread blocked in
/// poll, recv or accept never is.
public final class ThreadActivity: @unchecked Sendable {
    private let clock: clockid_t?
    private let statPath: String?

    /// Call on the thread to be watched.
    public init() {
        var id = clockid_t()
        clock = pthread_getcpuclockid(pthread_self(), &id) == 0 ? id : nil
        #if canImport(Darwin)
        statPath = nil
        #else
        // "/proc/thread-self" names this thread's folder ("PID/task/TID"); resolved now, on
        // the thread itself, so that others can read it later.
        let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")).map { "/proc/" + $0 + "/stat" }
        statPath = resolved
        #endif
    }

    /// The processor seconds the thread has used (nil once it has ended).
    public var cpuSeconds: Double? {
        guard let clock else { return nil }
        var time = timespec()
        guard clock_gettime(clock, &time) == 0 else { return nil }
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// True when the scheduler has the thread running or ready to run; nil when that
    /// cannot be known (macOS, or the thread has ended).
    public var isRunnable: Bool? {
        guard let statPath, let data = FileManager.default.contents(atPath: statPath) else { return nil }
        // "TID (name) S ...": the state is the first field after the last ")".
        let text = String(decoding: data, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let state = text[text.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state == "R"
    }

    /// Watches the thread for `seconds`: true when it used more than half of a core, or was
    /// runnable in most of ten samples (a loop that never waits, on a busy machine).
    public func isSpinning(over seconds: Double) -> Bool {
        let before = cpuSeconds
        var runnable = 0
        var known = 0
        for _ in 0..<10 {
            Thread.sleep(forTimeInterval: seconds / 10)
            if let state = isRunnable {
                known += 1
                if state { runnable += 1 }
            }
        }
        if let before, let after = cpuSeconds, after - before > seconds / 2 { return true }
        return known >= 5 && runnable * 2 > known
    }
}
