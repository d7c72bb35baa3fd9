import GridClient
import GridCore
import GridWire
import ZeroMQ

extension ProcessingUnit {
    /// Entries per snapshot chunk: big enough to amortise, small enough not to stall the loop.
    static let snapshotChunkEntries = 2_000

    // MARK: - Primary side

    /// Publishes a change and its invalidation event on the PUB socket.
    func publish(_ change: Change) {
        let topic = change.partition < topics.count ? topics[change.partition] : ReplicationWire.topic(section: configuration.section, partition: change.partition)
        // A PUB never blocks; at its high-water mark it drops, and resends repair that.
        _ = try? publisher.send(ReplicationWire.encode(topic: topic, change))
        _ = try? publisher.send(ReplicationWire.encodeInvalidation(topic: invalidationTopic, key: change.key, version: change.version))
    }

    /// Async mode: publishes what accumulated since the last flush.
    func publishOutbox() {
        lastFlush = monotonicMilliseconds()
        guard !outbox.isEmpty else { return }
        for change in outbox { publish(change) }
        outbox.removeAll(keepingCapacity: true)
    }

    /// Requests and acknowledgements from backups.
    func drainReplicationRouter() throws(ZMQError) {
        for _ in 0..<512 {
            guard let frames = try replicationRouter.receive() else { return }
            guard frames.count >= 2, let message = PeerMessage.decode(frames[1...]) else { continue }
            let routingID = frames[0]
            let now = monotonicMilliseconds()
            switch message {
            case .acknowledge(let unit, let records):
                backupRoutingIDs[unit] = routingID
                for record in records {
                    try carryOut(store.onAcknowledge(backup: unit, partition: record.partition, epoch: record.epoch, sequence: record.sequence, now: now))
                }
            case .snapshotRequest(let unit, let partition, let epoch):
                backupRoutingIDs[unit] = routingID
                // Changes not yet published must go out first, or the backup would wait for them forever.
                publishOutbox()
                guard !loadingPartitions.contains(partition) else {
                    // Still loading from the database: the backup asks again.
                    sendPeer(routingID, .refused(partition: partition, epoch: epoch))
                    continue
                }
                serveSnapshot(to: routingID, partition: partition, epoch: epoch)
            case .catchUpRequest(let unit, let partition, let epoch, let from):
                backupRoutingIDs[unit] = routingID
                publishOutbox()
                guard let led = store.led(partition), led.store.epoch == epoch, !loadingPartitions.contains(partition) else {
                    sendPeer(routingID, .refused(partition: partition, epoch: epoch))
                    continue
                }
                serveReplay(to: routingID, partition: partition, led: led, from: from)
            case .stored(_, let records):
                onStored(routingID: routingID, records: records)
            case .snapshotChunk, .changes, .refused:
                continue
            }
        }
    }

    func serveSnapshot(to routingID: [UInt8], partition: Int, epoch: UInt64) {
        guard let led = store.led(partition), led.store.epoch == epoch else {
            sendPeer(routingID, .refused(partition: partition, epoch: epoch))
            return
        }
        let sequence = led.store.sequence
        var chunk: [([UInt8], Entry)] = []
        chunk.reserveCapacity(Self.snapshotChunkEntries)
        var first = true
        for (key, entry) in led.store.entries {
            chunk.append((key, entry))
            if chunk.count == Self.snapshotChunkEntries {
                sendPeer(routingID, .snapshotChunk(partition: partition, epoch: epoch, sequence: sequence, first: first, last: false, entries: chunk))
                first = false
                chunk.removeAll(keepingCapacity: true)
            }
        }
        sendPeer(routingID, .snapshotChunk(partition: partition, epoch: epoch, sequence: sequence, first: first, last: true, entries: chunk))
    }

    func sendChanges(to routingID: [UInt8], partition: Int, epoch: UInt64, _ changes: [Change]) {
        var start = 0
        while start < changes.count {
            let end = min(changes.count, start + Self.snapshotChunkEntries)
            sendPeer(routingID, .changes(partition: partition, epoch: epoch, changes: Array(changes[start..<end])))
            start = end
        }
    }

    func sendPeer(_ routingID: [UInt8], _ message: PeerMessage) {
        // An unroutable backup is gone; it asks again when it comes back.
        _ = try? replicationRouter.send([routingID] + message.frames)
    }

    // MARK: - Backup side

    /// Changes published by the primaries this unit follows.
    func drainSubscriber() throws(ZMQError) {
        let now = monotonicMilliseconds()
        var batch: [Int: [Change]] = [:]
        for _ in 0..<2_048 {
            guard let frames = try subscriber.receive() else { break }
            guard let published = ReplicationWire.decode(frames), published.section == configuration.section else { continue }
            batch[published.change.partition, default: []].append(published.change)
        }
        for (_, changes) in batch {
            try carryOut(store.onChanges(changes, now: now))
        }
    }

    /// Snapshots, catch-ups and refusals from one primary.
    func drainPeer(_ name: String, _ socket: Socket) throws(ZMQError) {
        for _ in 0..<256 {
            guard let frames = try socket.receive() else { return }
            guard let message = PeerMessage.decode(frames[...]) else { continue }
            let now = monotonicMilliseconds()
            switch message {
            case .snapshotChunk(let partition, let epoch, let sequence, let first, let last, let entries):
                try carryOut(store.onSnapshotChunk(partition: partition, epoch: epoch, sequence: sequence, entries: entries, first: first, last: last, now: now))
                if last {
                    logger.debug("snapshot installed", metadata: ["grid.partition": "\(partition)", "sequence": "\(sequence)", "from": "\(name)"])
                }
            case .changes(_, _, let changes):
                try carryOut(store.onChanges(changes, now: now))
            case .refused(let partition, _):
                logger.debug("primary refused a replication request", metadata: ["grid.partition": "\(partition)", "primary": "\(name)"])
            case .acknowledge, .snapshotRequest, .catchUpRequest, .stored:
                continue
            }
        }
    }

    /// Sends the acknowledgements gathered this loop turn, one message per primary.
    func flushAcknowledgements() throws(ZMQError) {
        guard !pendingAcks.isEmpty else { return }
        for (primary, records) in pendingAcks {
            guard let socket = try peer(primary) else { continue }
            let message = PeerMessage.acknowledge(unit: configuration.name, records: records.values.sorted { $0.partition < $1.partition })
            _ = try socket.send(message.frames)
        }
        pendingAcks.removeAll(keepingCapacity: true)
    }

    // MARK: - Directives

    func carryOut(_ directives: [UnitStore.Directive]) throws(ZMQError) {
        for directive in directives {
            switch directive {
            case .release(let token):
                for held in heldReplies.removeValue(forKey: token) ?? [] { try send(held) }
                let now = monotonicMilliseconds()
                for pending in heldCalls.removeValue(forKey: token) ?? [] {
                    try send(pending.call, workflow: pending.workflow, partition: pending.partition, key: pending.key, now: now)
                }
            case .abandon(let token):
                heldReplies[token] = nil
                heldCalls[token] = nil  // the new primary resumes the workflow from its entry
            case .toPrimary(let primary, let request):
                switch request {
                case .acknowledge(let partition, let epoch, let sequence):
                    pendingAcks[primary, default: [:]][partition] = PeerMessage.AckRecord(partition: partition, epoch: epoch, sequence: sequence)
                case .requestSnapshot(let partition, let epoch):
                    guard let socket = try peer(primary) else { continue }
                    _ = try socket.send(PeerMessage.snapshotRequest(unit: configuration.name, partition: partition, epoch: epoch).frames)
                case .requestCatchUp(let partition, let epoch, let from):
                    guard let socket = try peer(primary) else { continue }
                    _ = try socket.send(PeerMessage.catchUpRequest(unit: configuration.name, partition: partition, epoch: epoch, from: from).frames)
                }
            case .resend(let backup, let changes):
                guard let routingID = backupRoutingIDs[backup], let first = changes.first else { continue }
                sendChanges(to: routingID, partition: first.partition, epoch: first.epoch, changes)
            case .follow:
                break  // subscriptions are brought up to date after every assignment
            }
        }
    }

    /// The DEALER to a primary's replication ROUTER, created on first use.
    func peer(_ name: String) throws(ZMQError) -> Socket? {
        if let socket = peers[name] { return socket }
        guard let endpoint = peerEndpoints[name]?.replication, !endpoint.isEmpty else { return nil }
        let socket = try Socket(context, .dealer, linger: 0)
        try socket.setHighWaterMarks(send: 100_000, receive: 0)
        try socket.setReconnectInterval(milliseconds: 50, maximum: 1_000)
        try socket.connect(endpoint)
        peers[name] = socket
        return socket
    }

    /// Subscribes to the partitions this unit backs up, and connects to their primaries' publishers
    /// (subscribe first, then ask for the snapshot: the Clone pattern).
    func updateSubscriptions() throws(ZMQError) {
        var wanted: Set<Int> = []
        var primaries: Set<String> = []
        for (partition, followed) in store.followed {
            wanted.insert(partition)
            primaries.insert(followed.primary)
        }
        for partition in wanted.subtracting(subscribedTopics) {
            try subscriber.subscribe(ReplicationWire.topic(section: configuration.section, partition: partition))
        }
        for partition in subscribedTopics.subtracting(wanted) {
            try subscriber.unsubscribe(ReplicationWire.topic(section: configuration.section, partition: partition))
        }
        subscribedTopics = wanted
        for primary in primaries {
            guard let endpoint = peerEndpoints[primary]?.publisher, !endpoint.isEmpty, !connectedPublishers.contains(endpoint) else { continue }
            try subscriber.connect(endpoint)
            connectedPublishers.insert(endpoint)
        }
        // Primaries no longer followed: close their DEALERs (their endpoints may be reused by a new process).
        for (name, socket) in peers where !primaries.contains(name) {
            socket.close()
            peers[name] = nil
        }
    }
}
