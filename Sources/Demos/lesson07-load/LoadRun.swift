import DemoSupport
import SocketKit

// All the clients run on this one thread, in one poll loop, rather than on a thread each.
// A thousand threads on two cores would measure the scheduler as much as the server: a
// client whose echo has arrived may wait for a core before it notices, and the tool itself
// would compete with the server it measures. One loop costs one core at most, and every
// reply is timed as soon as poll reports it. (It is the model lesson 7's poll server uses;
// here it is the demo's own code, so the tool works against any server, yours or not.)

/// What a run measured.
struct LoadResults {
    var clients: [LoadClient] = []
    /// Seconds for each whole echo, of every message of every client.
    var roundTrips: [Double] = []
    /// From the first connect to the last client's end.
    var elapsed = 0.0
}

/// Runs every client of `plan` at once until each one is served, fails or gives up.
func runLoad(_ plan: LoadPlan) throws -> LoadResults {
    let started = monotonicSeconds()
    var results = LoadResults()
    results.roundTrips.reserveCapacity(plan.clients * plan.messages)
    var clients = (0..<plan.clients).map { LoadClient(number: $0, plan: plan, now: started) }
    // One entry a client, kept from one poll to the next and changed only for the clients
    // that did something: a finished client's descriptor is -1, which poll skips.
    var entries = clients.map { pollfd(fd: $0.fd, events: $0.events, revents: 0) }
    var buffer = [UInt8](repeating: 0, count: chunkSize)
    var earliest = started  // no client can be late before this: see giveUpOnLateClients
    while entries.contains(where: { $0.fd >= 0 }) {
        if poll(&entries, nfds_t(entries.count), milliseconds(until: earliest)) < 0 {
            guard errno == EINTR else { throw SocketError(call: "poll") }
            continue
        }
        for index in entries.indices where entries[index].revents != 0 {
            if let roundTrip = clients[index].handle(entries[index].revents, buffer: &buffer) { results.roundTrips.append(roundTrip) }
            entries[index] = pollfd(fd: clients[index].fd, events: clients[index].events, revents: 0)
        }
        if monotonicSeconds() >= earliest { earliest = giveUpOnLateClients(&clients, &entries) }
    }
    results.elapsed = monotonicSeconds() - started
    results.clients = clients
    return results
}

/// Ends the clients whose wait is over, and returns the earliest deadline of the others.
///
/// A deadline only ever moves later, and a new one is later than every older one (it is
/// now plus the same wait). So until the earliest deadline found here, no client can be
/// late, and the loop need not look at a thousand clients after every echo.
private func giveUpOnLateClients(_ clients: inout [LoadClient], _ entries: inout [pollfd]) -> Double {
    let now = monotonicSeconds()
    var earliest = Double.infinity
    for index in clients.indices where clients[index].phase != .finished {
        clients[index].checkDeadline(now)
        entries[index].fd = clients[index].fd
        if clients[index].phase != .finished { earliest = min(earliest, clients[index].deadline) }
    }
    return earliest
}

/// poll's timeout for a wait that ends at `deadline`: whole milliseconds, rounded up, so
/// that poll does not wake a moment early and go round again with nothing to do.
private func milliseconds(until deadline: Double) -> Int32 {
    let left = ((deadline - monotonicSeconds()) * 1000).rounded(.up)
    return Int32(min(max(left, 0), 86_400_000))  // infinity (nobody waiting) becomes a day
}
