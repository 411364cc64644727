import Foundation
import SocketKit

/// What every demo program shares: its flags, and how it fails.
///
/// Bad input (an unknown flag, a port out of range, an address in use, a peer that is
/// not there) ends the program with one line on stderr and exit status 2, never a trace:
///
///     lesson02-server: --port must be a number from 0 to 65535, not "70000"
public struct DemoCommand: Sendable {
    public let name: String
    /// The text `--help` prints.
    public let help: String
    /// The flags the demo takes, with their defaults ("" for none).
    public let defaults: [String: String]

    public init(name: String, help: String, defaults: [String: String]) {
        self.name = name
        self.help = help
        self.defaults = defaults
    }

    /// Reads `--flag value` and `--flag=value` pairs; `--help` prints help and exits 0.
    public func parse(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> [String: String] {
        var values = defaults
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument == "--help" || argument == "-h" {
                print(help)
                exit(0)
            }
            guard argument.hasPrefix("--") else { fail("unexpected argument \"\(argument)\" (see --help)") }
            var flag = String(argument.dropFirst(2))
            var value: String?
            if let equals = flag.firstIndex(of: "=") {
                value = String(flag[flag.index(after: equals)...])
                flag = String(flag[..<equals])
            }
            guard defaults[flag] != nil else { fail("unknown flag --\(flag) (see --help)") }
            guard let given = value ?? rest.popFirst() else { fail("--\(flag) needs a value (see --help)") }
            values[flag] = given
        }
        return values
    }

    /// A port number from a flag's text, or exit 2.
    public func port(_ text: String, flag: String = "port") -> UInt16 {
        guard let port = UInt16(text) else { fail("--\(flag) must be a number from 0 to 65535, not \"\(text)\"") }
        return port
    }

    /// A positive count from a flag's text, or exit 2.
    public func count(_ text: String, flag: String) -> Int {
        guard let count = Int(text), count > 0 else { fail("--\(flag) must be a whole number above 0, not \"\(text)\"") }
        return count
    }

    /// A positive number of seconds (0.5 allowed) from a flag's text, or exit 2.
    public func seconds(_ text: String, flag: String) -> Double {
        guard let seconds = Double(text), seconds > 0, seconds.isFinite else {
            fail("--\(flag) must be a number of seconds above 0 (like 2 or 0.5), not \"\(text)\"")
        }
        return seconds
    }

    /// One line on stderr and exit status 2.
    public func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("\(name): \(message)\n".utf8))
        exit(2)
    }

    /// Runs the demo's body and turns whatever it throws into one line and exit status 2.
    /// `context` says what was being done ("cannot listen on 127.0.0.1:8002").
    public func run(_ body: () throws -> Void) -> Never {
        // A demo must never die of a signal: a client that vanishes mid-write is a line on
        // the screen, not the end of the server. (The graders check your code's own
        // SIGPIPE handling separately, in lesson 3.)
        signal(SIGPIPE, SIG_IGN)
        do {
            try body()
            exit(0)
        } catch let notStarted as NotStarted {
            let flags = CommandLine.arguments.dropFirst().map { $0.contains(" ") ? "'\($0)'" : $0 }
            fail("\(notStarted). To watch the reference answer instead: " + (["WORKBOOK_SOLUTIONS=1 swift run", name] + flags).joined(separator: " "))
        } catch {
            fail("\(error)")
        }
    }

    /// A line on stderr for a person typing at the terminal ("type lines, Ctrl-D to finish").
    /// Said only when stdin is a terminal: piped input needs no prompt, and keeps stderr for errors.
    public func prompt(_ line: String) {
        if isatty(STDIN_FILENO) == 1 { FileHandle.standardError.write(Data("\(line)\n".utf8)) }
    }

    /// Prints a line now, even when stdout is a pipe (so a script can wait for it).
    public func say(_ line: String) {
        print(line)
        fflush(nil)
    }
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
    public func runRole(_ role: String, server: () throws -> Void, client: () throws -> Void) -> Never {
        run {
            switch role {
            case "server": try server()
            case "client": try client()
            case "": fail("say which end to run: --role server or --role client (see --help)")
            default: fail("--role must be server or client, not \"\(role)\"")
            }
        }
    }
}

/// The address a socket is bound to (getsockname), for a demo's greeting. The demo's own
/// code: lesson 2's exercise teaches the same call.
public func localAddress(of fd: Int32) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let result = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    guard result == 0 else { throw SocketError(call: "getsockname") }
    return try SocketAddress(storage: storage, length: length)
}
