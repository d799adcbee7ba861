import Prometheus
import Synchronization

/// Prometheus metrics whose values live elsewhere and are copied into a registry when `/metrics`
/// is scraped. The event loops and the fleet keep their own plain counters, which cost an agent
/// message neither a lock nor an allocation; a scrape reads one snapshot of them and brings the
/// registry up to date.
public final class SnapshotMetrics<Snapshot: Sendable>: Sendable {
    /// Where one metric's value comes from in a snapshot.
    public enum Reading: Sendable {
        /// A count that only grows: a Prometheus `counter`.
        case count(@Sendable (Snapshot) -> Int)
        /// A sum (of seconds, say) that only grows: a Prometheus `counter`.
        case sum(@Sendable (Snapshot) -> Double)
        /// A value that goes up and down: a Prometheus `gauge`.
        case gauge(@Sendable (Snapshot) -> Double)
    }

    /// One exported metric: its name, labels and help text, and its reading.
    public struct Row: Sendable {
        /// The metric name.
        public var name: String
        /// The label pairs (every row of one name has the same label names).
        public var labels: [(String, String)]
        /// The `# HELP` text (every row of one name has the same).
        public var help: String
        /// How the value is read.
        public var reading: Reading

        /// A row.
        public init(_ name: String, labels: [(String, String)] = [], help: String, _ reading: Reading) {
            self.name = name
            self.labels = labels
            self.help = help
            self.reading = reading
        }
    }

    private enum Handle: Sendable {
        case counter(Counter)
        case gauge(Gauge)
    }

    /// What each counter was last advanced to: a scrape adds only the difference.
    private struct Exported {
        var counts: [Int64]
        var sums: [Double]
    }

    private let rows: [Row]
    private let handles: [Handle]
    private let read: @Sendable () -> Snapshot
    private let exported: Mutex<Exported>

    /// Registers `rows` in `registry`; `read` takes a snapshot at each `refresh()`.
    public init(
        registry: PrometheusCollectorRegistry, rows: [Row], read: @escaping @Sendable () -> Snapshot
    ) {
        self.rows = rows
        self.read = read
        handles = rows.map { row in
            // The whole name as one component: it stays exactly what scripts and dashboards know.
            let descriptor = MetricNameDescriptor(metricName: row.name, unitName: "", helpText: row.help)
            return switch row.reading {
            case .count, .sum: .counter(registry.makeCounter(descriptor: descriptor, labels: row.labels))
            case .gauge: .gauge(registry.makeGauge(descriptor: descriptor, labels: row.labels))
            }
        }
        exported = Mutex(
            Exported(
                counts: Array(repeating: 0, count: rows.count), sums: Array(repeating: 0, count: rows.count)))
    }

    /// Copies a fresh snapshot into the registry.
    public func refresh() {
        let snapshot = read()
        // One scrape at a time, so two never both add the same difference.
        exported.withLock { last in
            for (index, row) in rows.enumerated() {
                switch (row.reading, handles[index]) {
                case (.count(let value), .counter(let counter)):
                    let now = Int64(value(snapshot))
                    if now >= last.counts[index] {
                        counter.increment(by: now - last.counts[index])
                    } else {
                        // A source that went back (it should not) restarts the counter, as a
                        // process restart would; Prometheus reads that as a reset.
                        counter.reset()
                        counter.increment(by: max(0, now))
                    }
                    last.counts[index] = now
                case (.sum(let value), .counter(let counter)):
                    let now = value(snapshot)
                    if now >= last.sums[index] {
                        counter.increment(by: now - last.sums[index])
                    } else {
                        counter.reset()
                        counter.increment(by: max(0, now))
                    }
                    last.sums[index] = now
                case (.gauge(let value), .gauge(let gauge)):
                    gauge.set(to: value(snapshot))
                default:
                    break
                }
            }
        }
    }
}
