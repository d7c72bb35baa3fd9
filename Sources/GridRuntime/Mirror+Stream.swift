import GridClient
import GridCore
import GridWire
import ZeroMQ

extension Mirror {
    // MARK: - The replication stream

    /// Changes and commit indexes published by the units.
    func drainSubscriber() throws(ZMQError) {
        guard buffers != nil else {
            // Before the watermarks are known nothing can be placed; replays bring it later.
            for _ in 0..<4_096 { guard try subscriber.receive() != nil else { break } }
            return
        }
        let now = monotonicMilliseconds()
        for _ in 0..<4_096 {
            guard let frames = try subscriber.receive() else { break }
            if let published = ReplicationWire.decode(frames) {
                lastChangeAt = now
                mutateBuffer(published.section) { $0.onChange(published.change, now: now) }
            } else if let (section, commits) = ReplicationWire.decodeCommits(frames) {
                mutateBuffer(section) { buffer in
                    commits.flatMap { buffer.onCommit(partition: $0.partition, epoch: $0.epoch, committed: $0.committed, now: now) }
                }
            }
        }
    }

    /// Replays, snapshots, refusals and seal requests from one unit.
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
            case .changes(_, let epoch, let committed, let changes):
                lastChangeAt = now
                if !changes.isEmpty { mutateBuffer(section) { $0.onChanges(changes, carrier: epoch, committed: committed, now: now) } }
            case .snapshotChunk(let chunk):
                lastChangeAt = now
                var assembly = chunk.first ? SnapshotAssembly(epoch: chunk.epoch, sequence: chunk.sequence, entries: [])
                    : snapshots[section]?[chunk.partition] ?? SnapshotAssembly(epoch: chunk.epoch, sequence: chunk.sequence, entries: [])
                guard assembly.sequence == chunk.sequence, assembly.epoch == chunk.epoch else {
                    // Chunks of two snapshots mixed: drop both; the gap is asked for again.
                    snapshots[section]?[chunk.partition] = nil
                    continue
                }
                assembly.entries += chunk.entries.map { (key: $0.0, entry: $0.1) }
                if chunk.last {
                    snapshots[section]?[chunk.partition] = nil
                    counters[section, default: Counters()].snapshots += 1
                    let complete = assembly.entries
                    mutateBuffer(section) {
                        $0.onSnapshot(partition: chunk.partition, epoch: chunk.epoch, sequence: chunk.sequence, lastEpoch: chunk.lastEpoch,
                                      committed: chunk.committed, entries: complete, now: now)
                    }
                } else {
                    snapshots[section, default: [:]][chunk.partition] = assembly
                }
            case .refused:
                // The table moved on (a failover): ask for it again now; the buffer re-asks the replay.
                lastStatusAt = 0
            case .seal(_, let records):
                seal(section: section, records)
            case .acknowledge, .snapshotRequest, .catchUpRequest, .stored, .inSync:
                continue
            }
        }
    }

    /// A stopping unit asks to seal the partitions it led: those the database holds exactly
    /// up to the sequence it names, with nothing pending, are marked sealed in the database.
    func seal(section: String, _ records: [PeerMessage.AckRecord]) {
        guard let buffer = buffers?[section] else { return }
        var partitions: [Int: UInt64] = [:]
        for record in records where buffer.watermark(of: record.partition) == record.sequence && buffer.acceptedSequence(of: record.partition) == record.sequence {
            guard sealed[section]?.contains(record.partition) != true, sealing[section]?.contains(record.partition) != true else { continue }
            partitions[record.partition] = record.sequence
        }
        guard !partitions.isEmpty else { return }
        sealing[section, default: []].formUnion(partitions.keys)
        writer.submit(.seal(section: section, partitions: partitions))
    }

    /// Asks the partition's primary for its changes from `from` on, after a last change held
    /// labelled `dataEpoch` (it sends a snapshot when its log does not reach back or that is
    /// not its history). Without a known primary the buffer asks again later.
    func askReplay(section: String, partition: Int, from: UInt64, dataEpoch: UInt64) {
        guard let view = partitions[section]?[partition], let primary = view.primary,
              let socket = try? peer(primary) else { return }
        let request = PeerMessage.catchUpRequest(unit: configuration.name, partition: partition, epoch: view.epoch, from: from, dataEpoch: dataEpoch, follow: 0)
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
        try context.curve?.connect(socket)
        try socket.connect(endpoint)
        peers[unit] = (endpoint, socket)
        return socket
    }

    /// Tells every unit of each section what the database holds of it (and what is sealed):
    /// a stopping unit waits for this before it exits. Sent to all units, not only to the
    /// primaries the last status named: while a grid stops, leadership moves faster than statuses.
    func sendStored(force: Bool) throws(ZMQError) {
        guard let buffers else { return }
        for (section, buffer) in buffers {
            let records = buffer.watermarks.sorted { $0.key < $1.key }.map {
                PeerMessage.StoredRecord(partition: $0.key, epoch: $0.value.epoch, sequence: $0.value.sequence,
                                         sealed: sealed[section]?.contains($0.key) == true)
            }
            guard force || records != lastStoredSent[section] else { continue }
            lastStoredSent[section] = records
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

    /// Learns where units listen and who leads what; connects to new publishers; tells the
    /// buffers each partition's epoch (a failover whose messages were all missed shows here).
    func onStatus(_ status: GridStatus, now: UInt64) throws(ZMQError) {
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
            }
            partitions[section.name] = views
        }
        applyEpochs(now: now)
    }

    /// Each led partition's epoch, from the last status, to its buffer.
    func applyEpochs(now: UInt64) {
        for (section, views) in partitions {
            for (partition, view) in views where view.primary != nil && view.epoch > 0 {
                mutateBuffer(section) { $0.onEpoch(partition: partition, epoch: view.epoch, now: now) }
            }
        }
    }
}
