import SocketKit

// How the demos open their sockets with YOUR lesson code (lesson 2's makeListener, lesson
// 3's openConnection), and turn what goes wrong into the one line a person needs: the
// address, the failed call, and what to try.

extension DemoCommand {
    /// A listening socket from `make` (your makeListener, given `host` and `port`); when it
    /// fails, an error that names the address, and says --port 0 when the port is taken.
    public func listen(on host: String, port: UInt16, with make: (String, UInt16) throws -> Int32) throws -> Int32 {
        do {
            return try make(host, port)
        } catch let error as SocketError {
            throw DemoError.cannotListen(on: "\(host):\(port)", error)
        }
    }

    /// A connection from `open` (your openConnection), waiting at most `wait` seconds (a
    /// server whose listen queue is full leaves connect waiting for minutes: then exit 2
    /// with one line); when it fails, an error that names the address, and asks whether
    /// the server is running when it was refused.
    public func connect(to address: SocketAddress, wait: Double, with open: (SocketAddress) throws -> Int32) throws -> Int32 {
        do {
            return try within(wait, or: "no connection to \(address) after \(plain(wait)) s (--wait): is its listen queue full?") {
                try open(address)
            }
        } catch let error as SocketError {
            throw DemoError.cannotConnect(to: address, error)
        }
    }

    /// A connection to the first of `addresses` that takes it, tried in order with `open`
    /// (your openConnection), each attempt waiting at most `wait` seconds. A refused attempt
    /// moves on to the next address; when none connects, the last one's error.
    public func connect(toAnyOf addresses: [SocketAddress], wait: Double, with open: (SocketAddress) throws -> Int32) throws -> (fd: Int32, address: SocketAddress) {
        var lastError: Error = DemoError("no address to connect to")
        for address in addresses {
            do {
                return (try connect(to: address, wait: wait, with: open), address)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }
}
