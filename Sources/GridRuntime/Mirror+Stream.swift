import GridClient
import GridCore
import GridWire
import ZeroMQ

extension Mirror {
    // MARK: - The replication stream

    /// Changes published by the units.
    func drainSubscriber() throws(ZMQError) {
        guard buffers != nil else {
            // Before the watermarks are known nothing can be placed; replays bring it later.
            for _ in 0..<4_096 { guard try subscriber.receive() != nil else { break } }
            return
        }
        let now = monotonicMilliseconds()
        for _ in 0..<4_096 {
            guard let frames = try subscriber.receive() else { break }
            guard let published = ReplicationWire.decode(frames) else { continue }
            lastChangeAt = now
            mutateBuffer(published.section) { $0.onChange(published.change, now: now) }
        }
    }

    /// Replays, snapshots and refusals from one unit.
    func drainPeer(_ unit: String, _ socket: Socket) throws(ZMQError) {
        guard let section = units[unit]?.section else {
            while try socket.receive() != nil {}
            return
        }
        for _ in 0..<256 {
            guard let frames = try socket.receive() else { return }
            guard let message = PeerMessage.decode(frames[...]) else { continue }
            let now = monotonicMilliseconds()
            switch message {
            case .changes(_, _, let changes):
                lastChangeAt = now
                mutateBuffer(section) { $0.onChanges(changes, now: now) }
            case .snapshotChunk(let partition, _, let sequence, let first, let last, let entries):
                lastChangeAt = now
                var assembly = first ? SnapshotAssembly(sequence: sequence, entries: []) : snapshots[section]?[partition]
                    ?? SnapshotAssembly(sequence: sequence, entries: [])
                guard assembly.sequence == sequence else {
                    // Chunks of two snapshots mixed: drop both; the gap is asked for again.
                    snapshots[section]?[partition] = nil
                    continue
                }
                assembly.entries += entries.map { (key: $0.0, entry: $0.1) }
                if last {
                    snapshots[section]?[partition] = nil
                    counters[section, default: Counters()].snapshots += 1
                    let complete = assembly.entries
                    mutateBuffer(section) { $0.onSnapshot(partition: partition, sequence: sequence, entries: complete, now: now) }
                } else {
                    snapshots[section, default: [:]][partition] = assembly
                }
            case .refused:
                // The table moved on (a failover): ask for it again now; the buffer re-asks the replay.
                lastStatusAt = 0
            case .acknowledge, .snapshotRequest, .catchUpRequest, .stored:
                continue
            }
        }
    }

    /// Asks the partition's primary for its changes from `from` on (it sends a snapshot
    /// when its log no longer reaches back). Without a known primary the buffer asks again later.
    func askReplay(section: String, partition: Int, from: UInt64) {
        guard let view = partitions[section]?[partition], let primary = view.primary,
              let socket = try? peer(primary) else { return }
        let request = PeerMessage.catchUpRequest(unit: configuration.name, partition: partition, epoch: view.epoch, from: from)
        _ = try? socket.send(request.frames)
    }

    /// The DEALER to a unit's replication ROUTER, made (or remade, after a restart moved it) on use.
    func peer(_ unit: String) throws(ZMQError) -> Socket? {
        guard let endpoint = units[unit]?.replication, !endpoint.isEmpty else { return nil }
        if let existing = peers[unit] {
            if existing.endpoint == endpoint { return existing.socket }
            existing.socket.close()
            peers[unit] = nil
        }
        let socket = try Socket(context, .dealer, linger: 0)
        try socket.setHighWaterMarks(send: 10_000, receive: 0)
        try socket.setReconnectInterval(milliseconds: 50, maximum: 1_000)
        try socket.connect(endpoint)
        peers[unit] = (endpoint, socket)
        return socket
    }

    /// Tells every unit of each section what the database holds of it: a stopping unit
    /// waits for this before it exits. Sent to all units, not only to the primaries the
    /// last status named: while a grid stops, leadership moves faster than statuses.
    func sendStored(force: Bool) throws(ZMQError) {
        guard let buffers else { return }
        for (section, buffer) in buffers {
            let committed = buffer.watermarks
            guard force || committed != lastStoredSent[section] else { continue }
            lastStoredSent[section] = committed
            let records = committed.sorted { $0.key < $1.key }.map { PeerMessage.AckRecord(partition: $0.key, epoch: 0, sequence: $0.value) }
            let message = PeerMessage.stored(mirror: configuration.name, records: records)
            for (name, unit) in units where unit.section == section {
                guard let socket = try peer(name) else { continue }
                _ = try socket.send(message.frames)
            }
        }
    }

    // MARK: - The broker

    func receiveBrokerReplies(now: UInt64) throws(ZMQError) {
        while let (id, reply) = try brokerClient.receive(timeoutMilliseconds: 0) {
            guard id == statusRequest?.id else { continue }  // a `grid mirror` acknowledgement
            statusRequest = nil
            guard reply.status == .ok, let status = GridStatus(decoding: reply.payload) else { continue }
            try onStatus(status, now: now)
        }
    }

    /// Learns where units listen and who leads what; connects to new publishers;
    /// notices changes lost at the tail of a partition's stream.
    func onStatus(_ status: GridStatus, now: UInt64) throws(ZMQError) {
        var newest: [String: [Int: UInt64]] = [:]
        for section in status.sections where configuration.sections.contains(section.name) {
            for unit in section.units where !unit.publisher.isEmpty {
                units[unit.name] = UnitView(section: section.name, publisher: unit.publisher, replication: unit.replication)
                if !connectedPublishers.contains(unit.publisher) {
                    try subscriber.connect(unit.publisher)
                    connectedPublishers.insert(unit.publisher)
                }
            }
            var views: [Int: PartitionView] = [:]
            for partition in section.partitions {
                views[partition.partition] = PartitionView(primary: partition.primary, epoch: partition.epoch)
                newest[section.name, default: [:]][partition.partition] = partition.sequence
            }
            partitions[section.name] = views
        }
        applyNewest(now: now)
        reportedNewest = newest
    }

    /// What the previous status reported as newest and is still not accepted is a gap.
    func applyNewest(now: UInt64) {
        for (section, sequences) in reportedNewest {
            for (partition, sequence) in sequences where sequence > 0 {
                mutateBuffer(section) { $0.onNewest(partition: partition, sequence: sequence, now: now) }
            }
        }
    }
}
