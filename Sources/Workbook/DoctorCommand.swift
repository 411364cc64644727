import Foundation
import GradingHarness
import SocketKit

/// `workbook doctor`: can this machine run the workbook? Each finding says what to do.
enum DoctorCommand {
    static let help = """
        usage: swift run workbook doctor

        Checks the Swift toolchain (6.0 or later), that the graders build and XCTest loads them,
        that loopback works over IPv4 (127.0.0.1) and IPv6 (::1), and that ports can be bound,
        including the demos' defaults (8002 TCP, 8001 UDP). For each problem it says what to do.
        Exit status: 0 when nothing is wrong (warnings allowed), 1 otherwise.
        """

    private struct Finding {
        enum Level { case ok, warning, problem }
        let level: Level
        let what: String
        let advice: String?
    }

    static func run(_ words: [String]) throws -> Int32 {
        try Arguments(words, command: "doctor").noPositional(command: "doctor")
        let workspace = try Workspace.find()
        var findings: [Finding] = []
        func note(_ level: Finding.Level, _ what: String, _ advice: String? = nil) {
            findings.append(Finding(level: level, what: what, advice: advice))
            let mark = level == .ok ? Style.green("✓") : level == .warning ? Style.yellow("!") : Style.red("✗")
            print("\(mark) \(what)")
            if let advice { print("    " + Style.dim(advice)) }
            fflush(nil)
        }

        // The toolchain.
        let (versionEnding, versionOutput) = try workspace.runSwift(["--version"], seconds: 60)
        let versionLine = versionOutput.split(separator: "\n").first { $0.contains("Swift version") }.map(String.init) ?? versionOutput
        let major = versionLine.split(separator: " ").drop { $0 != "version" }.dropFirst().first
            .flatMap { Int($0.split(separator: ".").first ?? "") }
        if versionEnding == .exited(0), let major, major >= 6 {
            note(.ok, "Swift: \(versionLine.trimmingCharacters(in: .whitespaces)) (\(workspace.swift.path))")
        } else {
            note(.problem, "Swift 6.0 or later is needed; found: \(versionLine.trimmingCharacters(in: .whitespacesAndNewlines))",
                 "install Swift 6 from swift.org/install and put its bin folder first on PATH")
        }
        note(.ok, "the workbook is at \(workspace.root.path); lessons are graded from \(workspace.answers)/")

        // XCTest and the graders.
        let grader = Grader(workspace: workspace)
        if let errors = try grader.build(for: Curriculum.lessons) {
            note(.problem, "the graders do not build", "the compiler says:\n" + errors + "\n    if the errors are in Exercises/, fix your code (or: swift run workbook reset N)")
        } else {
            let bundle = try grader.testBundle
            let count = try Curriculum.lessons.map { try grader.checkNames($0, bundle: bundle).count }.reduce(0, +)
            let ending: ChildProcess.Ending = count > 0 ? .exited(0) : .exited(1)
            let output = "no grader checks were listed by \(bundle.path)"
            if ending == .exited(0), count > 0 {
                note(.ok, "XCTest loads the graders: \(count) checks in \(Curriculum.lessons.count) lessons")
            } else {
                note(.problem, "XCTest could not load the graders (\(ending))", "on Linux, XCTest ships with the swift.org toolchain: reinstall it; output was:\n" + output.suffix(600))
            }
        }

        // Loopback and ports.
        for (host, name) in [("127.0.0.1", "IPv4"), ("::1", "IPv6")] {
            do {
                try roundTrip(host)
                note(.ok, "loopback \(name) (\(host)): a connection carries bytes both ways")
            } catch {
                note(.problem, "loopback \(name) (\(host)) does not work: \(error)",
                     name == "IPv6" ? "lessons 3, 5 and 6 use ::1; on Linux enable it with: sudo sysctl -w net.ipv6.conf.lo.disable_ipv6=0"
                                    : "127.0.0.1 must work for every lesson: check the 'lo' interface is up (ip link set lo up)")
            }
        }
        for (port, type, demo) in [(UInt16(8002), SocketType.stream, "lesson02-server and lesson04-echo"), (8001, .datagram, "lesson05-udp")] {
            let label = type == .stream ? "TCP" : "UDP"
            if canBind(port: port, type: type) {
                note(.ok, "port \(port)/\(label) is free for \(demo)")
            } else {
                note(.warning, "port \(port)/\(label) is in use, so \(demo) cannot use its default port",
                     "stop whatever holds it (ss -lntup | grep \(port)), or give the demo --port 0 and use the port it prints")
            }
        }
        if canBind(port: 0, type: .stream) && canBind(port: 0, type: .datagram) {
            note(.ok, "the kernel hands out free ports (bind to port 0), as every grader needs")
        } else {
            note(.problem, "binding to port 0 failed", "the graders cannot run here: check the sandbox or firewall allows sockets on loopback")
        }

        let problems = findings.filter { $0.level == .problem }.count
        print("")
        print(problems == 0 ? Style.green("Everything the workbook needs is here.") : Style.red("\(problems) problem(s) to fix before the graders can be trusted."))
        return problems == 0 ? 0 : 1
    }

    /// A listener, a client, a byte each way, on `host`.
    private static func roundTrip(_ host: String) throws {
        let listener = try HarnessSocket.listener(host: host)
        let client = try HarnessSocket.connect(to: listener.localAddress)
        guard let server = try listener.accept(seconds: 2) else { throw SocketError(call: "accept", code: ETIMEDOUT) }
        try client.sendAll([42])
        guard try server.receive(seconds: 2) == [42] else { throw SocketError(call: "recv", code: EIO) }
        try server.sendAll([7])
        guard try client.receive(seconds: 2) == [7] else { throw SocketError(call: "recv", code: EIO) }
    }

    private static func canBind(port: UInt16, type: SocketType) -> Bool {
        guard let socket = try? HarnessSocket.make(.inet, type) else { return false }
        defer { socket.close() }
        let result = try? SocketAddress.ipv4(host: "127.0.0.1", port: port).withSockAddr { bind(socket.fd, $0, $1) }
        return result == 0
    }
}
