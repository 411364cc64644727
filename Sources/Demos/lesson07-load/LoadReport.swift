import DemoSupport
import Foundation
import SocketKit

/// The results as a table, the same whatever the server's model:
///
///     50 clients at once, each sending 10 messages of 64 bytes to 127.0.0.1:8002:
///       clients served  50 of 50
///       errors          0
///       timed out       0  (a client gives up after 5 s without its connection, or without a byte of echo)
///       round trip      median 0.210 ms  p90 0.402 ms  p99 1.130 ms  max 2.004 ms  (500 echoes)
///       echoed          1523809 bytes/s  (32000 bytes in 0.021 s)
///       first echo      the longest wait: 15.211 ms  (from connecting to a client's first whole echo)
func report(_ results: LoadResults, plan: LoadPlan) -> [String] {
    let outcomes = results.clients.compactMap(\.outcome)
    let served = results.clients.filter(\.wasServed).count
    let errors = outcomes.compactMap(errorText)
    let timeouts = outcomes.compactMap { if case .timedOut(let why) = $0 { why } else { nil } }
    var lines = [
        row("clients served", "\(served) of \(plan.clients)"),
        row("errors", "\(errors.count)" + (errors.first.map { "  (the first: \($0))" } ?? "")),
        row("timed out", "\(timeouts.count)  (a client gives up after \(plain(plan.wait)) s without its connection, or without a byte of echo"
            + (timeouts.first.map { "; the first: \($0))" } ?? ")")),
        row("round trip", latencies(results.roundTrips)),
    ]
    let echoed = results.clients.map(\.echoed).reduce(0, +)
    let perSecond = results.elapsed > 0 ? Int((Double(echoed) / results.elapsed).rounded()) : 0
    lines.append(row("echoed", "\(perSecond) bytes/s  (\(echoed) bytes in \(String(format: "%.3f", results.elapsed)) s)"))
    let firstWait = results.clients.compactMap(\.firstEchoWait).max()
    lines.append(row("first echo", firstWait.map { "the longest wait: \(ms($0))  (from connecting to a client's first whole echo)" } ?? "none came back"))
    return lines
}

/// The text of a client's error (a failed connect included), nil for any other outcome.
private func errorText(_ outcome: LoadClient.Outcome) -> String? {
    switch outcome {
    case .refused(let error): "\(error)"
    case .failed(let why): why
    case .served, .timedOut: nil
    }
}

/// Median, 90th and 99th percentiles and the maximum, in milliseconds.
private func latencies(_ seconds: [Double]) -> String {
    guard !seconds.isEmpty else { return "no echo came back" }
    let sorted = seconds.sorted()
    /// The nearest-rank percentile: the smallest time that `fraction` of the round trips do not exceed.
    func percentile(_ fraction: Double) -> Double {
        sorted[min(sorted.count - 1, max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1))]
    }
    let figures = [("median", 0.5), ("p90", 0.9), ("p99", 0.99)].map { "\($0.0) \(ms(percentile($0.1)))" }
    return (figures + ["max \(ms(sorted[sorted.count - 1]))"]).joined(separator: "  ") + "  (\(sorted.count) echoes)"
}

private func ms(_ seconds: Double) -> String {
    String(format: "%.3f ms", seconds * 1000)
}

private func row(_ label: String, _ value: String) -> String {
    "  " + label.padding(toLength: 16, withPad: " ", startingAt: 0) + value
}
