import GridClient
import GridCore
import GridWire
import ZeroMQ

/// The unit's side of write-behind (DESIGN.md section 6): cold starts from the
/// database, and waiting for the mirror before a polite exit.
extension ProcessingUnit {
    // MARK: - Cold start

    /// Loads `partitions` (leased afresh: nothing to continue from) from the database, off
    /// the loop's thread. Without a database they start empty at once.
    func startColdStart(_ partitions: Set<Int>) {
        guard !partitions.isEmpty else { return }
        guard let open = configuration.database else {
            for partition in partitions.sorted() {
                _ = store.installLoaded(partition: partition, entries: [:], sequence: 0, now: monotonicMilliseconds())
            }
            pendingLoadsInstalled.formUnion(partitions)
            return
        }
        loaders.append(ColdStartLoader(section: configuration.section, partitions: partitions, open: open))
        logger.info("cold start: loading partitions from the database", metadata: [
            "grid.unit": "\(configuration.name)", "partitions": "\(partitions.count)",
        ])
        // Tell the broker at once, so `spacegrid up` shows the load rather than a ready grid.
        try? sendReport(now: monotonicMilliseconds())
    }

    /// Installs the loads that finished, then serves the requests that waited for them.
    func installColdStarts() throws(ZMQError) {
        var finished = pendingLoadsInstalled
        pendingLoadsInstalled.removeAll()
        var remaining: [ColdStartLoader] = []
        for loader in loaders {
            guard let outcome = loader.take() else {
                remaining.append(loader)
                continue
            }
            switch outcome {
            case .success(let loaded):
                var installed = 0
                for (partition, content) in loaded.partitions {
                    let result = store.installLoaded(partition: partition, entries: content.entries, sequence: content.sequence, now: monotonicMilliseconds())
                    try carryOut(result.directives)
                    if result.installed { installed += 1 }
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
                    let still = loader.partitions.filter { store.led($0)?.loading == true }
                    if !still.isEmpty { remaining.append(ColdStartLoader(section: configuration.section, partitions: still, open: open)) }
                    finished.formUnion(loader.partitions.subtracting(still))
                }
            }
        }
        loaders = remaining
        guard !finished.isEmpty else { return }
        let loading = store.loadingPartitions
        let ready = waitingForLoad.filter { !loading.contains($0.route.partition) }
        waitingForLoad.removeAll { !loading.contains($0.route.partition) }
        for parked in ready { try onRequest(parked) }
        try resumeWorkflows(in: finished.filter { store.led($0) != nil && !loading.contains($0) })
        if loaders.isEmpty { try sendReport(now: monotonicMilliseconds()) }
    }

    // MARK: - The mirror

    /// The mirror says what the database holds (and whether it sealed it).
    func onStored(routingID: [UInt8], records: [PeerMessage.StoredRecord]) {
        mirrorRoutingID = routingID
        for record in records {
            let previous = mirrorStored[record.partition]
            if record.sequence >= previous?.sequence ?? 0 { mirrorStored[record.partition] = record }
        }
    }

    /// Partitions led here whose latest changes the database does not hold yet. A watermark
    /// above this partition's sequence is not this history (the mirror stores only committed
    /// changes, so only a branch of a deposed primary could put it there): it is pushed too,
    /// and the catch-up, finding no common prefix, is a snapshot that replaces it.
    var partitionsAheadOfMirror: [Int] {
        store.led.compactMap { partition, led in
            guard !led.loading, led.store.sequence > 0 else { return nil }
            return mirrorStored[partition]?.sequence == led.store.sequence ? nil : partition
        }
    }

    /// Before a polite exit: serve the mirror until it stored every change this unit
    /// led, pushing what it seems to miss (up to `mirrorWaitMilliseconds`), then ask it to
    /// seal them (a clean stop: the next cold start continues versions exactly). Without
    /// this, changes acknowledged just before a shutdown would exist only in memory.
    /// Returns how many partitions the database still lacks changes of (0: all stored).
    func awaitMirror() -> Int {
        let deadline = monotonicMilliseconds() + UInt64(configuration.mirrorWaitMilliseconds)
        var lastPush: UInt64 = 0
        var sealAskedAt: UInt64?
        while true {
            let behind = partitionsAheadOfMirror
            let now = monotonicMilliseconds()
            if behind.isEmpty {
                // An empty partition needs no seal: a load of nothing starts at 0 anyway.
                let unsealed = store.led.filter { !$0.value.loading && $0.value.store.sequence > 0 && mirrorStored[$0.key]?.sealed != true }
                if unsealed.isEmpty {
                    logger.info("the database holds everything this unit led, sealed", metadata: ["grid.unit": "\(configuration.name)"])
                    return 0
                }
                if let routingID = mirrorRoutingID, sealAskedAt.map({ now - $0 >= 300 }) ?? true {
                    sealAskedAt = now
                    let records = unsealed.map { PeerMessage.AckRecord(partition: $0.key, epoch: $0.value.store.lastEpoch, sequence: $0.value.store.sequence) }
                    sendPeer(routingID, .seal(unit: configuration.name, records: records.sorted { $0.partition < $1.partition }))
                }
            }
            if now >= deadline {
                if behind.isEmpty {
                    logger.warning("stopping before the mirror sealed what this unit led: the next start jumps its versions", metadata: [
                        "grid.unit": "\(configuration.name)",
                    ])
                } else {
                    logger.error("stopping before the mirror stored everything: the latest changes of these partitions are not in the database", metadata: [
                        "grid.unit": "\(configuration.name)", "partitions": "\(behind.sorted())",
                    ])
                }
                return behind.count
            }
            if let routingID = mirrorRoutingID, now - lastPush >= 300, !behind.isEmpty {
                lastPush = now
                for partition in behind {
                    guard let led = store.led(partition) else { continue }
                    let from = (mirrorStored[partition]?.sequence ?? 0) + 1
                    serveCatchUp(to: routingID, partition: partition, led: led, from: from, dataEpoch: mirrorStored[partition]?.epoch ?? 0)
                }
            }
            var poller = Poller()
            poller.add(replicationRouter)
            do {
                try poller.poll(timeoutMilliseconds: 20)
                if poller.isReadable(0) { try drainReplicationRouter() }
            } catch {
                logger.error("replication socket failed while waiting for the mirror", metadata: ["error": "\(error)"])
                return partitionsAheadOfMirror.count
            }
        }
    }
}
