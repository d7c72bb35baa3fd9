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

    /// Publishes the commit indexes that moved (`all`: of every led partition, twice a
    /// second, so the mirror notices changes lost at the tail of a stream).
    func publishCommits(all: Bool, now: UInt64) {
        if all { lastCommitsAll = now }
        let commits = store.commitsToPublish(all: all, now: now)
        guard !commits.isEmpty else { return }
        // Changes first: a commit must never overtake the changes it covers on the wire.
        publishOutboxCommitted()
        let records = commits.map { ReplicationWire.Commit(partition: $0.partition, epoch: $0.epoch, committed: $0.committed) }
        _ = try? publisher.send(ReplicationWire.encodeCommits(topic: commitTopic, records))
    }

    /// Async mode: changes a commit covers may still sit in the outbox (acknowledged
    /// through a catch-up): they go out before it.
    private func publishOutboxCommitted() {
        if !outbox.isEmpty { publishOutbox() }
    }

    /// Requests and acknowledgements from backups, and the mirror's reports.
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
                    try carryOut(store.onAcknowledge(backup: unit, partition: record.partition, epoch: record.epoch, sequence: record.sequence,
                                                     follow: record.follow, now: now))
                }
            case .snapshotRequest(let unit, let partition, let epoch, let follow):
                backupRoutingIDs[unit] = routingID
                try carryOut(store.onFollowerRequest(backup: unit, partition: partition, epoch: epoch, follow: follow, now: now))
                // Changes not yet published must go out first, or the backup would wait for them forever.
                publishOutbox()
                serveSnapshot(to: routingID, partition: partition, epoch: epoch)
            case .catchUpRequest(let unit, let partition, let epoch, let from, let dataEpoch, let follow):
                if follow != 0 {
                    backupRoutingIDs[unit] = routingID
                    try carryOut(store.onFollowerRequest(backup: unit, partition: partition, epoch: epoch, follow: follow, now: now))
                } else {
                    mirrorRoutingID = routingID
                }
                publishOutbox()
                guard let led = store.led(partition), led.store.epoch == epoch, !led.loading else {
                    sendPeer(routingID, .refused(partition: partition, epoch: epoch))
                    continue
                }
                serveCatchUp(to: routingID, partition: partition, led: led, from: from, dataEpoch: dataEpoch)
            case .stored(_, let records):
                onStored(routingID: routingID, records: records)
            case .snapshotChunk, .changes, .refused, .inSync, .seal:
                continue
            }
        }
    }

    /// A snapshot of a led partition (its state now, labelled, with its request table and
    /// commit index), in chunks; REFUSED when it is not led here at that epoch or still loading.
    func serveSnapshot(to routingID: [UInt8], partition: Int, epoch: UInt64) {
        guard let led = store.led(partition), led.store.epoch == epoch, !led.loading else {
            sendPeer(routingID, .refused(partition: partition, epoch: epoch))
            return
        }
        let sequence = led.store.sequence
        let lastEpoch = led.store.lastEpoch
        let committed = led.acks.committed
        var chunk: [([UInt8], Entry)] = []
        chunk.reserveCapacity(Self.snapshotChunkEntries)
        var first = true
        for (key, entry) in led.store.entries {
            chunk.append((key, entry))
            if chunk.count == Self.snapshotChunkEntries {
                sendPeer(routingID, .snapshotChunk(PeerMessage.SnapshotChunk(
                    partition: partition, epoch: epoch, sequence: sequence, lastEpoch: lastEpoch, committed: committed, first: first, last: false, entries: chunk)))
                first = false
                chunk.removeAll(keepingCapacity: true)
            }
        }
        sendPeer(routingID, .snapshotChunk(PeerMessage.SnapshotChunk(
            partition: partition, epoch: epoch, sequence: sequence, lastEpoch: lastEpoch, committed: committed, first: first, last: true,
            entries: chunk, requests: led.store.requests)))
    }

    /// The changes after what a replica holds, when that continues this partition's history
    /// and the log reaches back (an empty answer when it is up to date); else a snapshot.
    func serveCatchUp(to routingID: [UInt8], partition: Int, led: UnitStore.Led, from: UInt64, dataEpoch: UInt64) {
        if let changes = led.catchUp(from: from, dataEpoch: dataEpoch) {
            sendChanges(to: routingID, partition: partition, epoch: led.store.epoch, committed: led.acks.committed, changes)
        } else {
            serveSnapshot(to: routingID, partition: partition, epoch: led.store.epoch)
        }
    }

    /// Changes in messages of at most a chunk each; one empty message when there are none
    /// (the answer that tells a catching-up follower it is up to date).
    func sendChanges(to routingID: [UInt8], partition: Int, epoch: UInt64, committed: UInt64, _ changes: [Change]) {
        var start = 0
        repeat {
            let end = min(changes.count, start + Self.snapshotChunkEntries)
            sendPeer(routingID, .changes(partition: partition, epoch: epoch, committed: committed, changes: Array(changes[start..<end])))
            start = end
        } while start < changes.count
    }

    func sendPeer(_ routingID: [UInt8], _ message: PeerMessage) {
        // An unroutable backup is gone; it asks again when it comes back.
        _ = try? replicationRouter.send([routingID] + message.frames)
    }

    // MARK: - Backup side

    /// Changes published by the primaries this unit follows.
    func drainSubscriber() throws(ZMQError) {
        let now = monotonicMilliseconds()
        // Per partition and epoch: each change came under its own epoch's lease (a deposed
        // primary's late ones must not ride along with the current primary's).
        var batch: [PartitionEpoch: [Change]] = [:]
        for _ in 0..<2_048 {
            guard let frames = try subscriber.receive() else { break }
            guard let published = ReplicationWire.decode(frames), published.section == configuration.section else { continue }
            batch[PartitionEpoch(partition: published.change.partition, epoch: published.change.epoch), default: []].append(published.change)
        }
        for (key, changes) in batch {
            try carryOut(store.onChanges(changes, carrier: key.epoch, now: now))
        }
    }

    /// Snapshots, catch-ups, confirmations and refusals from one primary.
    func drainPeer(_ name: String, _ socket: Socket) throws(ZMQError) {
        for _ in 0..<256 {
            guard let frames = try socket.receive() else { return }
            guard let message = PeerMessage.decode(frames[...]) else { continue }
            let now = monotonicMilliseconds()
            switch message {
            case .snapshotChunk(let chunk):
                try carryOut(store.onSnapshotChunk(partition: chunk.partition, epoch: chunk.epoch, sequence: chunk.sequence, lastEpoch: chunk.lastEpoch,
                                                   entries: chunk.entries, requests: chunk.requests, first: chunk.first, last: chunk.last, now: now))
                if chunk.last {
                    logger.debug("snapshot installed", metadata: ["grid.partition": "\(chunk.partition)", "sequence": "\(chunk.sequence)", "from": "\(name)"])
                }
            case .changes(let partition, let epoch, _, let changes):
                // A catch-up's answer, or a resend: either continues the stream in order.
                if changes.isEmpty {
                    try carryOut(store.onEmptyCatchUp(partition: partition, carrier: epoch, now: now))
                } else {
                    try carryOut(store.onChanges(changes, carrier: epoch, answered: true, now: now))
                }
            case .inSync(let partition, let epoch, let follow):
                store.onInSync(partition: partition, epoch: epoch, follow: follow)
            case .refused(let partition, _):
                logger.debug("primary refused a replication request", metadata: ["grid.partition": "\(partition)", "primary": "\(name)"])
            case .acknowledge, .snapshotRequest, .catchUpRequest, .stored, .seal:
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
        var loads: Set<Int> = []
        defer { startColdStart(loads) }  // one pass over the database for all of them
        for directive in directives {
            switch directive {
            case .release(let token):
                for held in heldReplies.removeValue(forKey: token) ?? [] { try send(held) }
                let now = monotonicMilliseconds()
                for pending in heldCalls.removeValue(forKey: token) ?? [] {
                    try send(pending.call, workflow: pending.workflow, partition: pending.partition, key: pending.key, now: now)
                }
            case .abandon(let token):
                // Never sent as it is: 421 makes the broker (or a direct client, through the
                // broker) send the request again, and its request id makes that apply once.
                for held in heldReplies.removeValue(forKey: token) ?? [] {
                    try reply(held.client, held.envelope, .failure(GridError(.misdirected, "stale_epoch", "the partition is not led here any more")),
                              path: held.path)
                }
                heldCalls[token] = nil  // the partition's primary resumes the workflow from its entry
            case .toPrimary(let primary, let request):
                switch request {
                case .acknowledge(let partition, let epoch, let sequence, let follow):
                    pendingAcks[primary, default: [:]][partition] = PeerMessage.AckRecord(partition: partition, epoch: epoch, sequence: sequence, follow: follow)
                case .requestSnapshot(let partition, let epoch, let follow):
                    guard let socket = try peer(primary) else { continue }
                    _ = try socket.send(PeerMessage.snapshotRequest(unit: configuration.name, partition: partition, epoch: epoch, follow: follow).frames)
                case .requestCatchUp(let partition, let epoch, let from, let dataEpoch, let follow):
                    guard let socket = try peer(primary) else { continue }
                    _ = try socket.send(PeerMessage.catchUpRequest(unit: configuration.name, partition: partition, epoch: epoch, from: from,
                                                                   dataEpoch: dataEpoch, follow: follow).frames)
                }
            case .resend(let backup, let partition, let changes):
                guard let routingID = backupRoutingIDs[backup], let led = store.led(partition) else { continue }
                sendChanges(to: routingID, partition: partition, epoch: led.store.epoch, committed: led.acks.committed, changes)
            case .confirmInSync(let backup, let partition, let epoch, let follow):
                guard let routingID = backupRoutingIDs[backup] else { continue }
                sendPeer(routingID, .inSync(partition: partition, epoch: epoch, follow: follow))
            case .load(let partition):
                loads.insert(partition)
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
        try context.curve?.connect(socket)
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

/// A partition under one epoch (grouping what a SUB delivered).
struct PartitionEpoch: Hashable {
    var partition: Int
    var epoch: UInt64
}
