import GridCore
import XCTest

/// The lease margin over a real network, simulated: a unit and the broker exchange
/// heartbeats over a TCP-like link (in order, 20 ms ± 5 ms each way, 1% of segments lost
/// and sent again after a retransmission timeout of 200 ms that doubles), with the link
/// cut for seconds at random. The broker's `HeartbeatMonitor` and the unit's lease
/// (`leaseMilliseconds(expiry:)` after each stamp echoed) decide; no clock is read.
///
/// Safety: whenever the broker declares the unit dead, every lease it ever granted has
/// ended (so a successor never serves beside it). Liveness: with `hosts`, the LAN
/// defaults ride out the lost segments that the loopback defaults take for a death.
final class LeaseOverALossyLinkTests: XCTestCase {
    /// One direction of a TCP connection: in order, each segment lost with `loss` and sent
    /// again after the retransmission timeout until it gets through; nothing gets through a cut.
    struct Link {
        var random: SplitMix64
        var loss: Double
        var cuts: [ClosedRange<UInt64>]
        private var lastDelivery: UInt64 = 0

        init(seed: UInt64, loss: Double, cuts: [ClosedRange<UInt64>]) {
            random = SplitMix64(seed: seed)
            self.loss = loss
            self.cuts = cuts
        }

        mutating func delivery(sentAt sent: UInt64) -> UInt64 {
            var attempt = sent
            var timeout: UInt64 = 200
            while cuts.contains(where: { $0.contains(attempt) }) || Double(random.next() % 1_000_000) / 1_000_000 < loss {
                attempt += timeout
                timeout = min(timeout * 2, 60_000)
            }
            let arrival = max(attempt + 15 + random.next() % 11, lastDelivery)
            lastDelivery = arrival
            return arrival
        }
    }

    struct Outcome {
        var deaths = 0
        /// Deaths outside every cut (and its retransmissions): a healthy unit failed over.
        var falseDeaths = 0
        /// Deaths declared while a lease the broker granted still ran.
        var violations: [String] = []
    }

    /// `minutes` simulated, heartbeats of `heartbeat` ms and `liveness`, as the broker and units run them.
    func simulate(seed: UInt64, heartbeat: UInt64, liveness: Int, loss: Double, cuts: [ClosedRange<UInt64>], minutes: UInt64) -> Outcome {
        let expiry = Int(heartbeat) * liveness
        let lease = UInt64(leaseMilliseconds(expiry: expiry))
        var up = Link(seed: seed, loss: loss, cuts: cuts)
        var down = Link(seed: seed &+ 1, loss: loss, cuts: cuts)
        var monitor = HeartbeatMonitor(intervalMilliseconds: Int(heartbeat), liveness: liveness)
        var reports: [(arrival: UInt64, stamp: UInt64)] = []
        var grantedUntil: UInt64 = 0
        var knownStamp: UInt64?
        var outcome = Outcome()
        let end = minutes * 60_000
        let brokerTick = min(heartbeat, 100)
        var now: UInt64 = 0
        while now < end {
            // The unit reports every heartbeat (REPORT doubles as its heartbeat), stamped with its clock.
            if now % heartbeat == 0 { reports.append((up.delivery(sentAt: now), now)) }
            while let first = reports.first, first.arrival <= now {
                reports.removeFirst()
                monitor.onHeard("unit", now: now)
                knownStamp = max(knownStamp ?? 0, first.stamp)
            }
            if now % brokerTick == 0 {
                for _ in monitor.onTick(now: now) {
                    outcome.deaths += 1
                    if grantedUntil >= now {
                        outcome.violations.append("declared dead at \(now) ms while a lease ran until \(grantedUntil) ms")
                    }
                    let cut = cuts.contains { now >= $0.lowerBound && now <= $0.upperBound + 8_000 }
                    if !cut { outcome.falseDeaths += 1 }
                    // The unit registers again with its next report; it holds nothing until then.
                    knownStamp = nil
                }
                // Every tick the broker echoes the newest stamp it has (HEARTBEAT, ASSIGN): the lease
                // runs from that stamp, whenever the echo arrives.
                if let stamp = knownStamp, now % heartbeat == 0 {
                    _ = down.delivery(sentAt: now)
                    grantedUntil = max(grantedUntil, stamp + lease)
                }
            }
            now += 1
        }
        return outcome
    }

    private func cuts(seed: UInt64, minutes: UInt64) -> [ClosedRange<UInt64>] {
        var random = SplitMix64(seed: seed ^ 0x5eed)
        var cuts: [ClosedRange<UInt64>] = []
        var at: UInt64 = 20_000
        while at < minutes * 60_000 {
            let length = 500 + random.next() % 2_500
            cuts.append(at...(at + length))
            at += length + 30_000 + random.next() % 30_000
        }
        return cuts
    }

    func testNoLeaseOutlivesTheBrokersPatienceOnALossyLinkWithCuts() {
        for seed: UInt64 in 1...4 {
            for (heartbeat, liveness) in [(UInt64(BrokerDefaults.lanHeartbeat), BrokerDefaults.lanLiveness), (100, 3), (50, 2)] {
                let outcome = simulate(seed: seed, heartbeat: heartbeat, liveness: liveness, loss: 0.01,
                                       cuts: cuts(seed: seed, minutes: 10), minutes: 10)
                XCTAssertEqual(outcome.violations, [], "seed \(seed), heartbeat \(heartbeat) ms x \(liveness)")
                XCTAssertGreaterThan(outcome.deaths, 0, "the cuts are noticed (seed \(seed), \(heartbeat) ms x \(liveness))")
            }
        }
    }

    /// A lost segment costs 200 ms or more; the loopback defaults (300 ms of patience) take
    /// some of those for deaths, the LAN defaults (1 s) none.
    func testTheLANDefaultsRideOutLostSegments() {
        var lan = 0
        var loopback = 0
        for seed: UInt64 in 1...4 {
            lan += simulate(seed: seed, heartbeat: UInt64(BrokerDefaults.lanHeartbeat), liveness: BrokerDefaults.lanLiveness, loss: 0.01,
                            cuts: [], minutes: 10).falseDeaths
            loopback += simulate(seed: seed, heartbeat: 100, liveness: 3, loss: 0.01, cuts: [], minutes: 10).falseDeaths
        }
        XCTAssertEqual(lan, 0, "40 simulated minutes at 1% loss")
        XCTAssertGreaterThan(loopback, lan)
    }
}

/// The broker's LAN defaults (GridTopology's `BrokerConfig`, which GridCore cannot import).
private enum BrokerDefaults {
    static let lanHeartbeat = 250
    static let lanLiveness = 4
}
