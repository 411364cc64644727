import Foundation
import SocketKit
import Localization

/// What every demo program shares: its flags, and how it fails.
///
/// Bad input (an unknown flag, a value out of range, an address in use, a peer that is
/// not there, a closed standard input) ends the program with one line on stderr and exit
/// status 2, never a trace:
///
///     lesson02-server: --port must be a number from 0 to 65535, not "70000"
public struct DemoCommand: Sendable {
    public let name: String
    /// The text `--help` prints.
    public let help: String
    /// The flags the demo takes, with their defaults ("" for none).
    public let defaults: [String: String]
    /// The flags that take no value (`--hold`): given, they read "yes"; not given, "".
    public let switches: Set<String>

    public init(name: String, help: String, defaults: [String: String], switches: Set<String> = []) {
        self.name = name
        self.help = help
        self.defaults = defaults.merging(switches.map { ($0, "") }) { given, _ in given }
        self.switches = switches
    }

    /// Reads `--flag value` and `--flag=value` pairs; `--help` prints help and exits 0.
    public func parse(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Options {
        // An unknown WORKBOOK_LANG: said once, then English.
        if let notice = Language.notice { writeAll(STDERR_FILENO, Array("\(name): \(notice)\n".utf8)) }
        var values = defaults
        var given: Set<String> = []
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument == "--help" || argument == "-h" {
                print(help)
                exit(0)
            }
            guard argument.hasPrefix("--") else { fail("unexpected argument \(shown(argument)) (see --help)") }
            var flag = String(argument.dropFirst(2))
            var value: String?
            if let equals = flag.firstIndex(of: "=") {
                value = String(flag[flag.index(after: equals)...])
                flag = String(flag[..<equals])
            }
            guard defaults[flag] != nil else { fail("unknown flag --\(shownFlag(flag)) (see --help)") }
            if switches.contains(flag) {
                guard value == nil else { fail("--\(flag) takes no value (see --help)") }
                value = "yes"
            }
            guard let text = value ?? rest.popFirst() else { fail("--\(flag) needs a value (see --help)") }
            values[flag] = text
            given.insert(flag)
        }
        return Options(values: values, given: given)
    }

    /// One line on stderr and exit status 2.
    public func fail(_ message: String) -> Never {
        writeAll(STDERR_FILENO, Array("\(name): \(message)\n".utf8))
        exit(2)
    }

    /// Runs the demo's body and turns whatever it throws into one line and exit status 2.
    public func run(_ body: () throws -> Void) -> Never {
        // A demo must never die of a signal: a client that vanishes mid-write is a line on
        // the screen, not the end of the server. (The graders check your code's own
        // SIGPIPE handling separately, in lesson 3.)
        signal(SIGPIPE, SIG_IGN)
        do {
            try body()
            exit(0)
        } catch let notStarted as NotStarted {
            let command = ["WORKBOOK_SOLUTIONS=1", "swift", "run", name] + CommandLine.arguments.dropFirst().map(shellQuoted)
            fail("\(notStarted). To watch the reference answer instead: " + command.joined(separator: " "))
        } catch {
            fail("\(error)")
        }
    }

    /// A line on stderr for a person typing at the terminal ("type lines, Ctrl-D to finish").
    /// Said only when stdin is a terminal: piped input needs no prompt, and keeps stderr for errors.
    public func prompt(_ line: String) {
        if isatty(STDIN_FILENO) == 1 { note(line) }
    }

    /// A status line on stderr (stdout carries only what the peer sent).
    public func note(_ line: String) {
        writeAll(STDERR_FILENO, Array("\(line)\n".utf8))
    }

    /// Prints a line now, even when stdout is a pipe (so a script can wait for it).
    public func say(_ line: String) {
        print(line)
        fflush(nil)
    }

    /// Writes bytes to stdout exactly as they are (no text decoding, no buffering). When
    /// stdout is gone (a pipe whose reader quit), says so in one line and exits 2.
    public func output(_ bytes: [UInt8]) {
        guard writeAll(STDOUT_FILENO, bytes) else {
            fail("cannot write to standard output: \(SocketError(call: "write"))")
        }
    }
}

/// The flags as given on the command line, over the defaults.
public struct Options: Sendable {
    public let values: [String: String]
    /// The flags the command line named (whatever their value).
    public let given: Set<String>

    /// The flag's value, or its default.
    public subscript(_ flag: String) -> String { values[flag] ?? "" }
}

/// An error with a message for the person at the terminal, when the failing call's own
/// text needs context: "cannot listen on 127.0.0.1:8002: bind failed: EADDRINUSE (...)".
public struct DemoError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }

    /// A server could not take its address ("listen on" for TCP, "bind" for UDP, which
    /// has no listening); says what to try when the port is taken.
    public static func cannotListen(on address: String, _ error: SocketError, doing verb: String = "listen on") -> DemoError {
        DemoError("cannot \(verb) \(address): \(error)" + (error.code == EADDRINUSE ? " (is another server running? try --port 0)" : ""))
    }

    /// A client could not reach its server; says what to check when it was refused.
    public static func cannotConnect(to address: SocketAddress, _ error: SocketError) -> DemoError {
        DemoError("cannot connect to \(address): \(error)" + (error.code == ECONNREFUSED ? " (is the server running?)" : ""))
    }
}

extension DemoCommand {
    /// For demos with two ends: runs `server` or `client` as --role says, or explains.
    /// A flag of the other end is refused rather than ignored: `--role client --idle 5`
    /// would otherwise look as if it did something.
    public func runRole(
        _ options: Options, serverOnly: [String] = [], clientOnly: [String] = [],
        server: () throws -> Void, client: () throws -> Void
    ) -> Never {
        run {
            let role = options["role"]
            switch role {
            case "server", "client":
                let others = role == "server" ? clientOnly : serverOnly
                let other = role == "server" ? "client" : "server"
                if let flag = others.first(where: options.given.contains) {
                    fail("--\(flag) is for --role \(other) only (see --help)")
                }
                try role == "server" ? server() : client()
            case "": fail("say which end to run: --role server or --role client (see --help)")
            default: fail("--role must be server or client, not \(shown(role))")
            }
        }
    }
}

/// The address a socket is bound to (getsockname), for a demo's greeting. The demo's own
/// code: lesson 2's exercise teaches the same call.
public func localAddress(of fd: Int32) throws -> SocketAddress {
    try address(of: fd, call: "getsockname", getsockname)
}

/// The address of a connection's other end (getpeername): who a server is serving, when
/// all it was handed is the descriptor. The demo's own code: lesson 6 teaches the call.
public func remoteAddress(of fd: Int32) throws -> SocketAddress {
    try address(of: fd, call: "getpeername", getpeername)
}

/// Reads an address with `getsockname` or `getpeername` (the same shape of call).
private func address(
    of fd: Int32, call: String, _ read: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let result = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { read(fd, $0, &length) } }
    guard result == 0 else { throw SocketError(call: call) }
    return try SocketAddress(storage: storage, length: length)
}

/// A command-line value as it can be shown in one line: quoted, control bytes escaped,
/// long values cut ("x\ny" stays on one line).
public func shown(_ value: String) -> String {
    escaped(Array(value.utf8), limit: 60)
}

private func shownFlag(_ flag: String) -> String {
    let text = shown(flag)
    return text == "\"\(flag)\"" ? flag : text
}

/// `argument` as a POSIX shell word: as it is when it is plainly safe (`--port`, `8002`,
/// `::1`), otherwise in single quotes (`--host 'x;id'`, `''`), with `'\''` for a quote
/// inside. Control characters (a newline) use bash's `$'...'`, so the line stays one line.
public func shellQuoted(_ argument: String) -> String {
    let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%")
    if !argument.isEmpty && argument.allSatisfy(plain.contains) { return argument }
    if argument.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
        var quoted = "$'"
        for scalar in argument.unicodeScalars {
            switch scalar {
            case "\\": quoted += "\\\\"
            case "'": quoted += "\\'"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            case "\r": quoted += "\\r"
            default:
                if scalar.properties.generalCategory == .control && scalar.value < 0x100 {
                    quoted += "\\x" + hex(UInt8(scalar.value))
                } else if scalar.properties.generalCategory == .control {
                    quoted += "\\u" + String(scalar.value, radix: 16)
                } else {
                    quoted.unicodeScalars.append(scalar)
                }
            }
        }
        return quoted + "'"
    }
    return "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Writes every byte to `fd` with write(2), retrying after a signal. False when a write
/// failed (errno says why).
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var done = 0
    while done < bytes.count {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
        if written > 0 {
            done += written
        } else if written < 0 && errno == EINTR {
            continue
        } else {
            return false
        }
    }
    return true
}
