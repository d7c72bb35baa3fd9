import GridCore
import Yams

/// Reads one section's mapping: units, partitioning, backups and replication.
///
/// The rules that tie keys together live here: `ranges` goes with range
/// partitioning only and `partitions` with hash only (a range section has one
/// partition per range, so a separate count could only disagree), and a
/// section needs more units than backups because a backup never sits on its
/// primary's unit.
extension TopologyDecoder {
    /// The keys of a section mapping, in documentation order.
    static let sectionKeys = [
        "units", "partitions", "partitioning", "ranges", "backups", "mode", "replication_interval", "autoscale", "hosts",
    ]

    /// The keys of a section's `autoscale` mapping.
    static let autoscaleKeys = ["min", "max", "target", "cooldown"]

    /// The partitioning strategies a topology may name.
    static let partitioningChoices = ["hash", "range"]

    /// The section called `name`, or nil when some part of it could not be read.
    mutating func decodeSection(named name: String, _ mapping: Node.Mapping, hosts declared: [HostConfig]? = []) -> SectionConfig? {
        let context = "section '\(name)'"
        let fields = FieldMapping(
            mapping, context: context, allowed: Self.sectionKeys,
            placeholders: placeholders, problems: &problems)

        let units = fields.require("units", problems: &problems).flatMap { field in
            ScalarReading.integer(field.value, label: "\(context): units", in: SectionConfig.unitsRange,
                                  problems: &problems)
        }
        let partitioner = decodePartitioner(fields, context: context)
        let backups = decodeBackups(fields, units: units, context: context)
        let mode = fields.optional("mode", default: SectionConfig.defaultMode, problems: &problems) { node, problems in
            ScalarReading.choice(node, label: "\(context): mode", among: BackupMode.allCases.map(\.rawValue),
                                 problems: &problems)
                .flatMap(BackupMode.init(rawValue:))
        }
        let interval = fields.optional(
            "replication_interval", default: SectionConfig.defaultReplicationIntervalMilliseconds,
            problems: &problems
        ) { node, problems in
            ScalarReading.duration(node, label: "\(context): replication_interval",
                                   inMilliseconds: SectionConfig.replicationIntervalMillisecondsRange,
                                   problems: &problems)
        }

        var autoscale: AutoscaleConfig??
        if let field = fields["autoscale"] {
            autoscale = FieldMapping.mapping(field.value, what: "\(context): autoscale", problems: &problems)
                .flatMap { decodeAutoscale($0, units: units, backups: backups, context: context, mark: field.value.mark) }
                .map { .some($0) }
        } else {
            autoscale = .some(nil)
        }

        let hosts = decodeSectionHosts(fields, context: context, declared: declared)

        guard let units, let partitioner, let backups, let mode, let interval, let autoscale, let hosts else { return nil }
        var section = SectionConfig(
            name: name, units: units, partitioner: partitioner, backups: backups, mode: mode,
            replicationIntervalMilliseconds: interval, autoscale: autoscale)
        section.hosts = hosts
        return section
    }

    /// The `autoscale` block: `min` and `max` units (the section's `units` between them, and
    /// `min` above `backups`), `target` requests per second per unit, and `cooldown`.
    mutating func decodeAutoscale(_ mapping: Node.Mapping, units: Int?, backups: Int?, context: String, mark: Mark?) -> AutoscaleConfig? {
        let label = "\(context): autoscale"
        let fields = FieldMapping(mapping, context: label, allowed: Self.autoscaleKeys, placeholders: placeholders, problems: &problems)
        let minimum = fields.require("min", problems: &problems).flatMap {
            ScalarReading.integer($0.value, label: "\(label): min", in: SectionConfig.unitsRange, problems: &problems)
        }
        let maximum = fields.require("max", problems: &problems).flatMap {
            ScalarReading.integer($0.value, label: "\(label): max", in: SectionConfig.unitsRange, problems: &problems)
        }
        let target = fields.require("target", problems: &problems, hint: " (requests per second per unit)").flatMap {
            ScalarReading.integer($0.value, label: "\(label): target", in: AutoscaleConfig.targetRange, problems: &problems)
        }
        let cooldown = fields.optional("cooldown", default: AutoscaleConfig.defaultCooldownMilliseconds, problems: &problems) { node, problems in
            ScalarReading.duration(node, label: "\(label): cooldown", inMilliseconds: AutoscaleConfig.cooldownMillisecondsRange, problems: &problems)
        }
        guard let minimum, let maximum, let target, let cooldown else { return nil }
        if minimum > maximum {
            problems.report("\(label): min (\(minimum)) must not be above max (\(maximum))", at: fields["min"]?.value.mark ?? mark)
            return nil
        }
        if let units, !(minimum...maximum).contains(units) {
            problems.report("\(label): the section starts with \(units) units, outside min \(minimum) ... max \(maximum)", at: mark)
            return nil
        }
        if let backups, minimum <= backups {
            problems.report("\(label): min (\(minimum)) must be more than backups (\(backups)): a backup never sits on its primary's unit",
                            at: fields["min"]?.value.mark ?? mark)
            return nil
        }
        return AutoscaleConfig(min: minimum, max: maximum, targetPerUnit: target, cooldownMilliseconds: cooldown)
    }

    /// The section's partitioner, from `partitioning` with `partitions` (hash) or `ranges` (range).
    mutating func decodePartitioner(_ fields: FieldMapping, context: String) -> Partitioner? {
        guard let strategy = fields.optional("partitioning", default: "hash", problems: &problems, read: {
            ScalarReading.choice($0, label: "\(context): partitioning", among: Self.partitioningChoices,
                                 problems: &$1)
        }) else {
            // An unknown strategy: which of partitions/ranges belongs is unclear, so say nothing more.
            return nil
        }
        switch strategy {
        case "range":
            if let partitions = fields["partitions"] {
                problems.report(
                    "\(context): partitions is not allowed with range partitioning: "
                        + "the partition count is the number of ranges",
                    at: partitions.keyMark)
            }
            guard let ranges = fields.require(
                "ranges", problems: &problems,
                hint: " (range partitioning needs a list of [start, end] pairs, one per partition)")
            else { return nil }
            guard let decoded = decodeRanges(ranges.value, context: context),
                  fields["partitions"] == nil else { return nil }
            return .range(decoded)
        default:
            var valid = true
            if let ranges = fields["ranges"] {
                problems.report(
                    "\(context): ranges is only allowed with 'partitioning: range'; "
                        + "this section uses hash partitioning",
                    at: ranges.keyMark)
                valid = false
            }
            let partitions = fields.optional(
                "partitions", default: Partitioner.defaultPartitionCount, problems: &problems
            ) { node, problems in
                ScalarReading.integer(node, label: "\(context): partitions", in: SectionConfig.partitionsRange,
                                      problems: &problems)
            }
            guard valid, let partitions else { return nil }
            return .hash(partitions: partitions)
        }
    }

    /// The section's backup count: within range and below the unit count.
    ///
    /// When `backups` is absent the default is one backup, or none for a
    /// single-unit section (there is no other unit to hold it).
    mutating func decodeBackups(_ fields: FieldMapping, units: Int?, context: String) -> Int? {
        guard let field = fields["backups"] else {
            return units.map(SectionConfig.defaultBackups(units:)) ?? SectionConfig.defaultBackups
        }
        guard let backups = ScalarReading.integer(
            field.value, label: "\(context): backups", in: SectionConfig.backupsRange, problems: &problems)
        else { return nil }
        if let units, backups >= units {
            problems.report(
                "\(context): backups (\(backups)) must be less than units (\(units)): "
                    + "a backup never sits on its primary's unit",
                at: field.value.mark)
            return nil
        }
        return backups
    }
}
