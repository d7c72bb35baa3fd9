import GridClient
import GridCore
import GridWire
import ZeroMQ

/// The unit's side of write-behind (DESIGN.md section 6): cold starts from the
/// database, and waiting for the mirror before a polite exit.
extension ProcessingUnit {
    /// A request for a partition still loading from the database.
    struct ParkedRequest {
        var client: [UInt8]
        var envelope: [UInt8]
        var route: Route
        var operationName: [UInt8]
        var key: [UInt8]
        var arguments: [[UInt8]]
    }

    // MARK: - Cold start

    /// Loads `partitions` (led now, held nothing before) from the database, off the loop's thread.
    func startColdStart(_ partitions: Set<Int>) {
        guard let open = configuration.database, !partitions.isEmpty else { return }
        loadingPartitions.formUnion(partitions)
        loaders.append(ColdStartLoader(section: configuration.section, partitions: partitions, open: open))
        logger.info("cold start: loading partitions from the database", metadata: [
            "grid.unit": "\(configuration.name)", "partitions": "\(partitions.count)",
        ])
        // Tell the broker at once, so `spacegrid up` shows the load rather than a ready grid.
        try? sendReport(now: monotonicMilliseconds())
    }

    /// Installs the loads that finished, then serves the requests that waited for them.
    func installColdStarts() throws(ZMQError) {
        var finished: Set<Int> = []
        var remaining: [ColdStartLoader] = []
        for loader in loaders {
            guard let outcome = loader.take() else {
                remaining.append(loader)
                continue
            }
            switch outcome {
            case .success(let loaded):
                var installed = 0
                for (partition, content) in loaded.partitions where store.led(partition) != nil {
                    if store.installLoaded(partition: partition, entries: content.entries, sequence: content.sequence) { installed += 1 }
                }
                finished.formUnion(loader.partitions)
                logger.info("cold start: partitions loaded", metadata: [
                    "grid.unit": "\(configuration.name)", "partitions": "\(installed)", "entries": "\(loaded.entries)",
                    "ms": "\(loaded.milliseconds)",
                ])
            case .failure(let error):
                // Serving an empty partition would hide what the database holds: try again.
                logger.error("cold start: cannot read the database; retrying", metadata: [
                    "grid.unit": "\(configuration.name)", "error": "\(error)",
                ])
                if let open = configuration.database {
                    let still = loader.partitions.filter { store.led($0) != nil }
                    if !still.isEmpty { remaining.append(ColdStartLoader(section: configuration.section, partitions: still, open: open)) }
                    finished.formUnion(loader.partitions.subtracting(still))
                }
            }
        }
        loaders = remaining
        guard !finished.isEmpty else { return }
        loadingPartitions.subtract(finished)
        let ready = waitingForLoad.filter { !loadingPartitions.contains($0.route.partition) }
        waitingForLoad.removeAll { !loadingPartitions.contains($0.route.partition) }
        for parked in ready {
            try onRequest(client: parked.client, envelope: parked.envelope, route: parked.route, operationName: parked.operationName,
                          key: parked.key, arguments: parked.arguments)
        }
        try resumeWorkflows(in: finished.filter { store.led($0) != nil })
        if loaders.isEmpty { try sendReport(now: monotonicMilliseconds()) }
    }

    // MARK: - The mirror

    /// The mirror says what the database holds.
    func onStored(routingID: [UInt8], records: [PeerMessage.AckRecord]) {
        mirrorRoutingID = routingID
        for record in records {
            mirrorStored[record.partition] = max(mirrorStored[record.partition] ?? 0, record.sequence)
        }
    }

    /// Partitions led here whose latest changes the database does not hold yet.
    var partitionsAheadOfMirror: [Int] {
        store.led.compactMap { partition, led in
            led.store.sequence > (mirrorStored[partition] ?? 0) ? partition : nil
        }
    }

    /// Before a polite exit: serve the mirror until it stored every change this unit
    /// led, pushing what it seems to miss (up to `mirrorWaitMilliseconds`). Without
    /// this, changes acknowledged just before a shutdown would exist only in memory.
    func awaitMirror() {
        let deadline = monotonicMilliseconds() + UInt64(configuration.mirrorWaitMilliseconds)
        var lastPush: UInt64 = 0
        while true {
            let behind = partitionsAheadOfMirror
            if behind.isEmpty {
                logger.info("the database holds everything this unit led", metadata: ["grid.unit": "\(configuration.name)"])
                return
            }
            let now = monotonicMilliseconds()
            if now >= deadline {
                logger.error("stopping before the mirror stored everything", metadata: [
                    "grid.unit": "\(configuration.name)", "partitions": "\(behind.count)",
                ])
                return
            }
            if let routingID = mirrorRoutingID, now - lastPush >= 300 {
                lastPush = now
                for partition in behind {
                    guard let led = store.led(partition) else { continue }
                    serveReplay(to: routingID, partition: partition, led: led, from: (mirrorStored[partition] ?? 0) + 1)
                }
            }
            var poller = Poller()
            poller.add(replicationRouter)
            do {
                try poller.poll(timeoutMilliseconds: 20)
                if poller.isReadable(0) { try drainReplicationRouter() }
            } catch {
                logger.error("replication socket failed while waiting for the mirror", metadata: ["error": "\(error)"])
                return
            }
        }
    }

    /// Changes of a led partition from `from` on, or a snapshot when its log does not reach back.
    func serveReplay(to routingID: [UInt8], partition: Int, led: UnitStore.Led, from: UInt64) {
        if let changes = led.replay(from: from) {
            if !changes.isEmpty { sendChanges(to: routingID, partition: partition, epoch: led.store.epoch, changes) }
        } else {
            serveSnapshot(to: routingID, partition: partition, epoch: led.store.epoch)
        }
    }
}
