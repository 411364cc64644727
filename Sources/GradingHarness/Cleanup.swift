import Foundation

/// What must not outlive the program that made it: the child processes it started (with
/// every process they started in turn, whatever process group each one is in) and its
/// temporary files.
///
/// `ChildProcess.run` starts and registers each child here in one step, so `sweep()` either
/// sees a child or stops it from being started at all. The workbook command puts its
/// temporary files (and its grading processes' TMPDIR) in one private folder, and calls
/// `sweep()` on every way out: a normal exit, an error, SIGINT, SIGTERM and SIGHUP. In a
/// test process nothing calls `sweep()`, and temporary files go to the usual folder.
public final class Cleanup: @unchecked Sendable {
    public static let shared = Cleanup()

    private let lock = NSLock()
    private var children: Set<pid_t> = []
    private var paths: Set<String> = []
    private var scratchFolder: URL?
    private var sweeping = false

    /// `ChildProcess.run` after `sweep()` has begun: the program is stopping.
    public struct Stopping: Error, CustomStringConvertible {
        public var description: String { "stopping: no new process is started" }
    }

    /// A private temporary folder could not be made.
    public struct NoTemporaryFolder: Error, CustomStringConvertible {
        public let description: String
    }

    /// Makes this program's private temporary folder (`$TMPDIR/workbook-XXXXXX`, mode 700),
    /// where `temporaryFile` puts files from now on; `sweep()` removes it with all it holds.
    @discardableResult
    public func useScratchFolder() throws -> URL {
        try lock.withLock {
            if let scratchFolder { return scratchFolder }
            let base = FileManager.default.temporaryDirectory.path
            var template = Array((base.hasSuffix("/") ? base : base + "/").utf8CString.dropLast()) + Array("workbook-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else {
                let reason = String(cString: strerror(errno))
                throw NoTemporaryFolder(description: "cannot make a temporary folder in \(base): \(reason.prefix(1).lowercased() + reason.dropFirst()) (set TMPDIR to a folder you can write)")
            }
            let folder = URL(fileURLWithPath: String(cString: made), isDirectory: true)
            scratchFolder = folder
            return folder
        }
    }

    /// The private temporary folder, if `useScratchFolder()` made one.
    public var scratch: URL? { lock.withLock { scratchFolder } }

    /// A new, unused name for a temporary file: "\(prefix)<UUID>\(suffix)" in the private
    /// folder, or in the usual temporary folder when there is none. Nothing is created.
    public func temporaryFile(_ prefix: String, _ suffix: String) -> URL {
        (scratch ?? FileManager.default.temporaryDirectory).appendingPathComponent("\(prefix)\(UUID().uuidString)\(suffix)")
    }

    /// Removes `url` (a file or a folder) in `sweep()`, unless `keep(_:)` is called first.
    public func removeOnExit(_ url: URL) { lock.withLock { _ = paths.insert(url.path) } }

    /// No longer removes `url` in `sweep()`.
    public func keep(_ url: URL) { lock.withLock { _ = paths.remove(url.path) } }

    /// Starts a child with `start` (which returns its process id) and registers it, as one
    /// step; throws `Stopping` instead once `sweep()` has begun.
    public func launch(_ start: () throws -> pid_t) throws -> pid_t {
        try lock.withLock {
            if sweeping { throw Stopping() }
            let pid = try start()
            children.insert(pid)
            return pid
        }
    }

    /// The child `pid` has ended and been waited for.
    public func ended(_ pid: pid_t) { _ = lock.withLock { children.remove(pid) } }

    /// Stops every registered child and everything it started (SIGTERM, then SIGKILL for
    /// whatever is left after `grace` seconds: a test process can hold SIGTERM blocked in
    /// every thread for as long as a check lasts), then removes the temporary files. From
    /// then on no child can be started. Safe to call more than once.
    public func sweep(grace: Double = 0.5) {
        let (roots, remove): (Set<pid_t>, [String]) = lock.withLock {
            sweeping = true
            // The folder's name stays: a file another thread makes late fails there, rather
            // than landing in the usual temporary folder.
            defer { children = []; paths = [] }
            return (children, Array(paths) + [scratchFolder?.path].compactMap { $0 })
        }
        ProcessTree.stop(roots, grace: grace)
        // Another thread may still be making a file in a folder being removed (its check's
        // process was just stopped): try again until it is gone.
        for path in remove {
            for _ in 0..<20 {
                try? FileManager.default.removeItem(atPath: path)
                var info = stat()
                if lstat(path, &info) != 0 { break }
                usleep(10_000)
            }
        }
    }
}

/// Processes and the processes they started, found through /proc on Linux.
enum ProcessTree {
    /// Freezes `roots` and their descendants (SIGSTOP, so none can start another process
    /// while they are being found), asks them all to end (SIGTERM, then SIGCONT), waits up to
    /// `grace` seconds, and kills what is left (SIGKILL).
    static func stop(_ roots: Set<pid_t>, grace: Double) {
        guard !roots.isEmpty else { return }
        var all = family(of: roots)
        for _ in 0..<10 {
            for pid in all { kill(pid, SIGSTOP) }
            let found = all.union(family(of: all))
            if found == all { break }
            all = found
        }
        for pid in all {
            kill(pid, SIGTERM)
            kill(pid, SIGCONT)
        }
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline, all.contains(where: isRunning) { usleep(20_000) }
        let left = all.filter(isRunning)
        guard !left.isEmpty else { return }
        for pid in family(of: Set(left)) { kill(pid, SIGKILL) }
        #if !os(Linux)
        for pid in left { kill(-pid, SIGKILL) }  // its process group (no /proc to find descendants; not tested here)
        #endif
    }

    /// `pids` that still run, and every running process descended from them.
    static func family(of pids: Set<pid_t>) -> Set<pid_t> {
        #if os(Linux)
        var childrenOf: [pid_t: [pid_t]] = [:]
        var running: Set<pid_t> = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let (parent, state) = status(pid) else { continue }
            childrenOf[parent, default: []].append(pid)
            if state != "Z" && state != "X" { running.insert(pid) }
        }
        var found: Set<pid_t> = []
        var queue = Array(pids)
        while let pid = queue.popLast() {
            guard found.insert(pid).inserted else { continue }
            queue += childrenOf[pid] ?? []
        }
        return found.intersection(running)
        #else
        return Set(pids.filter(isRunning))
        #endif
    }

    /// True while `pid` exists and is not a zombie.
    static func isRunning(_ pid: pid_t) -> Bool {
        #if os(Linux)
        guard let (_, state) = status(pid) else { return false }
        return state != "Z" && state != "X"
        #else
        return kill(pid, 0) == 0
        #endif
    }

    #if os(Linux)
    /// The parent and the state letter of `pid`, from /proc/PID/stat ("PID (name) S PPID ...";
    /// the name may hold spaces and parentheses, so the fields are read after the last ')').
    static func status(_ pid: pid_t) -> (parent: pid_t, state: Character)? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 1, let state = fields[0].first, let parent = pid_t(fields[1]) else { return nil }
        return (parent, state)
    }
    #endif
}
