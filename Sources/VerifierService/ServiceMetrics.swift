import Prometheus
import Synchronization
import Verifier

/// The service's Prometheus metrics: decisions by result and reason, verification latency,
/// refusals of throttled or locked factors, answers by status and rate-limited requests.
public struct ServiceMetrics: Sendable {
  public let registry: PrometheusCollectorRegistry
  let latency: DurationHistogram
  /// One counter per decision reason, made once: the verify path only increments.
  let decisionCounters: [Decision.Reason: Counter]
  let answersByStatus: LabelledCounters<Int>
  let throttledByReason: LabelledCounters<String>
  let limitedByKind: LabelledCounters<String>

  public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
    self.registry = registry
    latency = registry.makeDurationHistogram(
      descriptor: Self.name(
        "verify_duration", unit: "seconds", "Time to decide one code, store round trips included."),
      buckets: [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(100), .seconds(1),
      ])
    var counters: [Decision.Reason: Counter] = [:]
    for reason in Decision.Reason.allCases {
      let accepted = reason == .accepted || reason == .resynced
      counters[reason] = registry.makeCounter(
        descriptor: Self.decisions,
        labels: [
          ("route", "verify"), ("result", accepted ? "accepted" : "refused"), ("reason", reason.rawValue),
        ])
    }
    decisionCounters = counters
    answersByStatus = LabelledCounters(registry, Self.answers, label: "status")
    throttledByReason = LabelledCounters(registry, Self.throttled, label: "reason")
    limitedByKind = LabelledCounters(registry, Self.limited, label: "by")
  }

  static func name(_ metric: String, unit: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(namespace: "otptoken", metricName: metric, unitName: unit, helpText: help)
  }

  static var decisions: MetricNameDescriptor {
    name("decisions", unit: "total", "Decisions on codes, by result and reason.")
  }
  static var throttled: MetricNameDescriptor {
    name("throttled_refusals", unit: "total", "Refusals of factors throttled or locked after failures.")
  }
  static var answers: MetricNameDescriptor {
    name("http_responses", unit: "total", "HTTP answers by status.")
  }
  static var limited: MetricNameDescriptor {
    name("rate_limited", unit: "total", "Requests refused by a rate limit.")
  }

  /// Counts a decision; throttled and locked refusals also count as throttled factors.
  func record(_ decision: Decision, duration: Duration) {
    decisionCounters[decision.reason]?.increment()
    if decision.reason == .throttled || decision.reason == .locked {
      throttledByReason.increment(decision.reason.rawValue)
    }
    latency.record(duration)
  }

  func recordAnswer(status: Int) { answersByStatus.increment(status) }

  func recordRateLimited(_ kind: String) { limitedByKind.increment(kind) }
}

/// The counters of one metric with one label, each made in the registry the first time its value
/// is counted and kept, so that counting is a dictionary look-up: the registry's own look-up
/// checks and hashes the metric's name and labels at every call.
final class LabelledCounters<Value: Hashable & CustomStringConvertible & Sendable>: Sendable {
  private struct State {
    let descriptor: MetricNameDescriptor
    var made: [Value: Counter] = [:]
  }
  private let registry: PrometheusCollectorRegistry
  private let label: String
  private let state: Mutex<State>

  init(_ registry: PrometheusCollectorRegistry, _ descriptor: sending MetricNameDescriptor, label: String) {
    self.registry = registry
    self.label = label
    state = Mutex(State(descriptor: descriptor))
  }

  func increment(_ value: Value) {
    state.withLock { state in
      if let counter = state.made[value] { return counter }
      let counter = registry.makeCounter(descriptor: state.descriptor, labels: [(label, value.description)])
      state.made[value] = counter
      return counter
    }.increment()
  }
}
