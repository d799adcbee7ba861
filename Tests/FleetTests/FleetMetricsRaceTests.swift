import Core
import Foundation
import Testing

@testable import Fleet

/// The fleet's counters used to be written under two different locks (the inventory's by the
/// ingest thread, the write-behind one by the writer and by operator calls), so updates racing
/// each other could be lost. Every counter below has an exact expected value.
@Suite struct FleetMetricsRaceTests {
    @Test func concurrentIngestsPushesAndFlushesLoseNoUpdate() throws {
        var options = FleetOptions(instance: "test")
        options.flushIntervalMilliseconds = 1
        options.batchRows = 8
        let fleet = try FleetService(
            store: try FleetStores.open(try TestDatabases.freshURL("sqlite")), options: options)
        let delivered = Box(0)
        fleet.onPush = { uids in delivered.update { $0 += uids?.count ?? 0 } }
        fleet.start()
        _ = try fleet.putConfig(name: "base", body: TestConfigs.collector())
        let producers = 8
        let agentsPerProducer = 150
        let rounds = 20
        let assigners = 4
        let assignsPerAssigner = 25
        // Reads every counter while the others write them (what ThreadSanitizer flags).
        let done = Box(false)
        let reader = Thread {
            while !done.value { _ = fleet.metrics }
        }
        reader.start()
        DispatchQueue.concurrentPerform(iterations: producers + assigners) { worker in
            if worker < producers {
                for round in 0..<rounds {
                    for a in 0..<agentsPerProducer {
                        let i = worker * agentsPerProducer + a
                        if round == 0 {
                            fleet.record(
                                FleetServiceTests.firstMessage(i, env: i % 2 == 0 ? "prod" : "dev"), loop: worker)
                        } else if round % 2 == 0 {
                            fleet.heartbeat(FleetServiceTests.uid(i), loop: worker)
                        } else {
                            var c = StatusChanges()
                            c.instanceUID = FleetServiceTests.uid(i)
                            var health = ComponentHealth()
                            health.healthy = round % 4 == 1
                            c.health = health
                            fleet.record(c, loop: worker)
                        }
                    }
                    _ = fleet.metrics
                }
            } else {
                for n in 0..<assignsPerAssigner {
                    let env = (worker + n) % 2 == 0 ? "prod" : "dev"
                    _ = try? fleet.assign(config: "base", selector: ["env": env])
                    _ = fleet.metrics
                }
            }
        }
        #expect(fleet.waitUntilWritten(timeout: 30))
        done.update { $0 = true }
        let m = fleet.metrics
        #expect(m.changesIngested == producers * agentsPerProducer * rounds, "every message counted once")
        #expect(m.agentsKnown == producers * agentsPerProducer)
        #expect(m.pushesRequested == delivered.value, "every push request counted once")
        #expect(m.storeHealthy)
        #expect(fleet.stop())
    }
}
