import SocketKit

// The clients read standard input as bytes and send them as they are. Text is a choice
// the person typing makes (a terminal sends UTF-8); a socket passes any byte through, so
// nothing here decodes: `41 ff fe 80 00 42 0a` in is `41 ff fe 80 00 42 0a` on the wire.

extension DemoCommand {
    /// Exits 2 with one line unless descriptors 0, 1 and 2 are open. A client started with
    /// standard input closed (`prog <&-`, not `< /dev/null`) would get descriptor 0 for its
    /// socket, and then read its own socket as if it were the keyboard.
    public func requireStandardStreams() {
        guard fcntl(STDERR_FILENO, F_GETFD) != -1 else { exit(2) }  // nowhere to say anything
        for (fd, name) in [(STDIN_FILENO, "input"), (STDOUT_FILENO, "output")] where fcntl(fd, F_GETFD) == -1 {
            fail("standard \(name) is closed (descriptor \(fd)); run it with standard \(name) open: a terminal, a pipe or a file (/dev/null for \(fd == 0 ? "no input" : "none"))")
        }
    }

    /// Calls `body` with each piece of standard input as it arrives, until its end: from a
    /// terminal, one line at a time (the terminal hands over a line when you press Return).
    public func forEachInputChunk(_ body: ([UInt8]) throws -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count == 0 { return }
            if count < 0 {
                if errno == EINTR { continue }
                throw DemoError("cannot read standard input: \(SocketError(call: "read"))")
            }
            try body(Array(buffer.prefix(count)))
        }
    }

    /// Calls `body` with each line of standard input, its "\n" included; the last line may
    /// have none (input that does not end with a newline). A line longer than `maxLength`
    /// bytes ends the program with one line saying so.
    public func forEachInputLine(maxLength: Int, tooLong: String, _ body: ([UInt8]) throws -> Void) throws {
        var pending: [UInt8] = []
        try forEachInputChunk { chunk in
            pending += chunk
            var start = 0
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[start...newline])
                guard line.count <= maxLength else { fail(tooLong) }
                try body(line)
                start = newline + 1
            }
            pending.removeFirst(start)
            guard pending.count <= maxLength else { fail(tooLong) }
        }
        if !pending.isEmpty { try body(pending) }
    }
}
