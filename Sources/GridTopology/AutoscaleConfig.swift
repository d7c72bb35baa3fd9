/// A section's optional `autoscale:` block: `spacegrid up` adds a unit while the section
/// runs above `target` requests per second per unit for `cooldown`, and removes one while
/// it runs well below (one unit fewer would still be under half the target), never
/// under `min` or over `max`.
public struct AutoscaleConfig: Sendable, Equatable {
    public var min: Int
    public var max: Int
    /// Requests per second per unit the section aims at.
    public var targetPerUnit: Int
    /// How long a condition must hold before a change, and the least time between changes.
    public var cooldownMilliseconds: Int

    public init(min: Int, max: Int, targetPerUnit: Int, cooldownMilliseconds: Int = AutoscaleConfig.defaultCooldownMilliseconds) {
        self.min = min
        self.max = max
        self.targetPerUnit = targetPerUnit
        self.cooldownMilliseconds = cooldownMilliseconds
    }

    public static let defaultCooldownMilliseconds = 30_000
    public static let cooldownMillisecondsRange = 1_000...3_600_000
    public static let targetRange = 1...100_000_000
}
