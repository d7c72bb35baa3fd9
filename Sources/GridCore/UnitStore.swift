/// Everything one unit holds: its partitions and the leases it was granted.
///
/// Pure: the unit shell feeds it the broker's assignments and the routed
/// requests, and sends back what it returns.
public struct UnitStore: Sendable {
    public private(set) var partitions: [Int: PartitionStore] = [:]
    public private(set) var leases: [Int: Lease] = [:]

    public init() {}

    /// Replaces the unit's leases with the broker's latest assignment.
    ///
    /// A partition that is no longer leased is dropped; one newly leased starts
    /// empty at the lease's epoch. Returns the partitions dropped, so the shell can log them.
    @discardableResult
    public mutating func onAssign(_ assigned: [Lease]) -> [Int] {
        var next: [Int: Lease] = [:]
        for lease in assigned { next[lease.partition] = lease }
        var dropped: [Int] = []
        for partition in partitions.keys where next[partition] == nil {
            partitions[partition] = nil
            dropped.append(partition)
        }
        for lease in next.values {
            if partitions[lease.partition] == nil {
                partitions[lease.partition] = PartitionStore(partition: lease.partition, epoch: lease.epoch)
            } else {
                partitions[lease.partition]!.epoch = lease.epoch
            }
        }
        leases = next
        return dropped.sorted()
    }

    /// Serves one routed request, fenced by the route's epoch.
    public mutating func handle(route: Route, operation: DataOperation, key: [UInt8], arguments: [[UInt8]]) -> OperationOutcome {
        guard let lease = leases[route.partition], lease.role == .primary, lease.epoch == route.epoch else {
            return .failure(.staleEpoch(partition: route.partition, epoch: route.epoch, current: leases[route.partition]?.epoch))
        }
        return operation.execute(key: key, arguments: arguments, on: &partitions[route.partition]!)
    }

    /// How many entries the unit holds, over all partitions.
    public var entryCount: Int { partitions.values.reduce(0) { $0 + $1.count } }

    public var primaryCount: Int { leases.values.filter { $0.role == .primary }.count }
}
