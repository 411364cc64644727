import GradingHarness
import Lesson01
import SocketKit
import XCTest

/// Grades Exercises/Lesson01/CreateSocket.swift. Checklist rows 1, 2 and 3.
final class Lesson01CreateGrader: GraderCase {
    // Rule 5: an answer may import only SocketKit and the toolchain's own modules.
    func test0_importsOnlySocketKitAndTheToolchain() throws {
        try checkImports(1)
    }

    static let kinds: [(AddressFamily, SocketType)] = [
        (.inet, .stream), (.inet, .datagram), (.inet6, .stream), (.inet6, .datagram), (.unix, .stream), (.unix, .datagram),
    ]

    // Row 1: the socket is the family and type that were asked for, as the kernel tells it.
    func test1_openSocketCreatesTheKindAsked() throws {
        try grade {
            for (family, type) in Self.kinds {
                let probe = Probe("openSocket(family: .\(family.name), type: .\(type.name)) creates that kind of socket")
                let fd = try probe.call("openSocket(family:type:)", returns: { [$0] }) {
                    try openSocket(family: family, type: type)
                }
                defer { closeIfOpen(fd) }
                guard Inspect.isSocket(fd) else {
                    throw probe.fail(expected: "the descriptor of a new socket", actual: "it returned \(Inspect.describe(fd))", hint: .returnTheDescriptor)
                }
                let actual = (family: try Inspect.family(fd), type: try Inspect.type(fd))
                guard actual == (family, type) else {
                    throw probe.fail(
                        expected: "an \(family) \(type) socket",
                        actual: "an \(actual.family) \(actual.type) socket (read back with getsockopt SO_DOMAIN / SO_TYPE)",
                        hint: .wrongKind)
                }
            }
        }
    }

    // Row 2: a failed socket() is an error, not a descriptor, and carries the right errno.
    func test2_openSocketReportsFailure() throws {
        try grade {
            let cases: [(AddressFamily, SocketType, Int32, String)] = [
                (AddressFamily(rawValue: 4242), .stream, EAFNOSUPPORT, "an address family that does not exist"),
                (.inet, SocketType(rawValue: 4242), EINVAL, "a socket type that does not exist"),
            ]
            for (family, type, code, what) in cases {
                let probe = Probe("openSocket(family:type:) reports a failed socket() call (\(what))")
                let outcome = try probe.attempt("openSocket(family:type:)", returns: { [$0] }) {
                    try openSocket(family: family, type: type)
                }
                // A working socket for an impossible request means the arguments never reached socket().
                try expectSocketError(
                    outcome, call: "socket", code: code, probe: probe, function: "openSocket(family:type:)",
                    returnedHint: { Inspect.isSocket($0) ? .wrongKind : nil })
            }
        }
    }

    // The type and family are read from the kernel, for sockets the harness made.
    func test3_socketTypeAndFamilyAskTheKernel() throws {
        try grade {
            for (family, type) in Self.kinds {
                let probe = Probe("socketType(of:) and socketFamily(of:) read back a \(family) \(type) socket")
                let socket = try HarnessSocket.make(family, type)
                let gotType = try probe.call("socketType(of:)") { try socketType(of: socket.fd) }
                let gotFamily = try probe.call("socketFamily(of:)") { try socketFamily(of: socket.fd) }
                guard gotType == type, gotFamily == family else {
                    throw probe.fail(
                        expected: "\(family) and \(type) (what the kernel says about fd \(socket.fd))",
                        actual: "socketFamily said \(gotFamily), socketType said \(gotType)",
                        hint: .readBack)
                }
            }
        }
    }

    // Row 2 again: getsockopt can fail too, and its -1 must not become an answer.
    func test4_readBackReportsFailure() throws {
        try grade {
            let probe = Probe("socketType(of:) and socketFamily(of:) report a failed call (fd -1 is never open)")
            let type = try probe.attempt("socketType(of: -1)") { try socketType(of: -1) }
            try expectSocketError(type, call: "getsockopt", code: EBADF, probe: probe, function: "socketType(of:)")
            let family = try probe.attempt("socketFamily(of: -1)") { try socketFamily(of: -1) }
            try expectSocketError(family, call: nil, code: EBADF, probe: probe, function: "socketFamily(of:)")
        }
    }

    // closeSocket really closes, and reports closing what is not open.
    func test5_closeSocketCloses() throws {
        try grade {
            let probe = Probe("closeSocket(_:) closes the socket, and reports a descriptor that is not open")
            let fd = socket(AF_INET, SocketType.stream.rawValue, 0)  // the learner's to close
            guard fd >= 0 else { throw SocketError(call: "socket") }
            // Descriptor numbers are reused at once, so "is fd N open?" cannot tell; the
            // socket's identity (its inode) can.
            let identity = Inspect.identity(fd)
            defer { if Inspect.identity(fd) == identity { _ = LibC.close(fd) } }
            try probe.call("closeSocket(_:)") { try closeSocket(fd) }
            guard identity == nil || Inspect.identity(fd) != identity else {
                throw probe.fail(expected: "fd \(fd) closed", actual: "\(Inspect.describe(fd)) is still open", hint: .notClosed)
            }
            // -1 is never open (closing a real number twice could close someone else's file).
            let again = try probe.attempt("closeSocket(-1)") { try closeSocket(-1) }
            try expectSocketError(again, call: "close", code: EBADF, probe: probe, function: "closeSocket(_:)")
        }
    }

    // Row 3: hundreds of open/close cycles leave nothing behind.
    func test6_openAndCloseLeaveNothingOpen() throws {
        try grade {
            let probe = Probe("openSocket then closeSocket, 300 times, leaves no socket open")
            try probe.call("openSocket(family:type:) and closeSocket(_:) (300 times)") {
                for _ in 0..<300 {
                    let fd = try openSocket(family: .inet, type: .stream)
                    try closeSocket(fd)
                }
            }
        }
    }
}

extension Hint {
    static let wrongKind = Hint("wrong-kind", "Pass the family and type you were given to socket(): socket(family.rawValue, type.rawValue, 0). The family picks the kind of address (AF_INET, AF_INET6, AF_UNIX); the type picks stream (TCP) or datagram (UDP).")
    static let returnTheDescriptor = Hint("return-descriptor", "Return exactly the number socket() gave you: it is the descriptor, and the only name the socket has.")
    static let readBack = Hint("read-back", "Ask the kernel, don't assume: getsockopt(fd, SOL_SOCKET, SO_TYPE, ...) for the type, SO_DOMAIN (Linux) for the family. The answer lands in the Int32 you pass with &.")
    static let notClosed = Hint("not-closed", "closeSocket must call close(fd). Until it does, the descriptor and the kernel's socket stay allocated.")
}

extension AddressFamily {
    var name: String { self == .inet ? "inet" : self == .inet6 ? "inet6" : self == .unix ? "unix" : "init(rawValue: \(rawValue))" }
}

extension SocketType {
    var name: String { self == .stream ? "stream" : self == .datagram ? "datagram" : "init(rawValue: \(rawValue))" }
}
