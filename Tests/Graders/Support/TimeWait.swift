import GradingHarness
import SocketKit

/// Puts `listener`'s port into TIME_WAIT the way a restarted server meets it: one client is
/// served and the server closes that connection first (the side that closes first is the
/// one that waits in TIME_WAIT, holding the port); then the listener is closed too.
///
/// Uses the harness's own accept, not the learner's. `listener` is closed when this returns.
func leaveInTimeWait(_ listener: Int32, at address: SocketAddress, probe: Probe) throws {
    defer { _ = LibC.close(listener) }
    let client = try Peer.client("client", connectingTo: address, transcript: probe.transcript, script: [
        .send(Array("hello\n".utf8)), .receiveUntilClosed(seconds: Deadline.standard), .close,
    ])
    guard Inspect.waitReadable(listener, seconds: Deadline.standard) else {
        throw probe.fail(expected: "the client's connection to be waiting on the listener", actual: "nothing arrived within 2 s", hint: .notListening)
    }
    let served = accept(listener, nil, nil)
    guard served >= 0 else { throw SocketError(call: "accept") }
    _ = try Inspect.receive(served, seconds: Deadline.standard)
    _ = LibC.close(served)
    client.wait()
    probe.transcript.record(
        probe.transcript.open("the server side of that connection is now in TIME_WAIT on \(address)"),
        .note("the listener was closed; a new one is asked for on the same port"))
}
