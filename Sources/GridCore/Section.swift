/// The section API (DESIGN.md section 7): a section's domain operations,
/// written in Swift, run on the unit that owns the key.
///
/// An operation sees the key, its current entry (or none) and the request's
/// arguments, and returns the entry's new value (or none, or no change) and a
/// reply. The unit runs it atomically for that key (one thread owns the
/// partition) and replicates its change like a `put`. Operations are pure
/// functions: no IO, no clock, no randomness, so a backup promoted to primary
/// would have computed the same result.
///
/// To add a section: write one file with a `Section` value (see
/// `Sources/TradingSections/CustomerSection.swift`), list it in
/// `SectionCatalog.all`, and declare it in a topology.
public struct Section: Sendable {
    /// The name the topology uses for the section (`customer`, ...).
    public let name: String
    public let operations: [String: SectionOperation]
    /// Operations that run a workflow across sections (a saga), such as `order.place`.
    public let workflows: [String: Workflow]

    public init(name: String, operations: [String: SectionOperation], workflows: [String: Workflow] = [:]) {
        self.name = name
        self.operations = operations
        self.workflows = workflows
    }

    /// Every operation name the section serves, the data operations included.
    public var operationNames: [String] {
        DataOperation.allCases.map(\.rawValue) + operations.keys.sorted() + workflows.keys.sorted()
    }
}

/// A workflow across sections (DESIGN.md section 7), kept as the value of the
/// entry it is started on: its progress is data in the grid, replicated like
/// any write, so a new primary resumes or compensates it after a failover.
///
/// The unit drives it: `start` when the operation arrives, `advance` with each
/// step's reply, `resume` for every entry of a partition the unit has just
/// become primary of (and for steps that got no reply for a while). Each
/// returns a `WorkflowDecision`: the entry's new value, the calls to make, and,
/// once finished, the reply for everyone waiting. All three are pure; steps
/// carry idempotency keys (in their arguments) so that sending one twice
/// never applies it twice.
public struct Workflow: Sendable {
    public let start: @Sendable (OperationInput) -> WorkflowDecision
    /// The entry's key and value, the step that answered, and its reply.
    public let advance: @Sendable (_ key: [UInt8], _ value: [UInt8], _ step: String, _ status: Status, _ payload: [UInt8]) -> WorkflowDecision
    /// The calls an unfinished workflow still waits for (all of them are sent again); nil when the entry is finished or is no workflow.
    public let resume: @Sendable (_ key: [UInt8], _ value: [UInt8]) -> WorkflowDecision?

    public init(
        start: @escaping @Sendable (OperationInput) -> WorkflowDecision,
        advance: @escaping @Sendable (_ key: [UInt8], _ value: [UInt8], _ step: String, _ status: Status, _ payload: [UInt8]) -> WorkflowDecision,
        resume: @escaping @Sendable (_ key: [UInt8], _ value: [UInt8]) -> WorkflowDecision?
    ) {
        self.start = start
        self.advance = advance
        self.resume = resume
    }
}

/// A request a workflow makes to some section, through the broker.
public struct WorkflowCall: Sendable, Equatable, Hashable {
    public var section: String
    public var operation: String
    public var key: [UInt8]
    public var arguments: [[UInt8]]
    /// The step's name, handed back to `advance` with the reply (`reserve`, `debit`, ...).
    public var step: String

    public init(section: String, operation: String, key: [UInt8], arguments: [[UInt8]], step: String) {
        self.section = section
        self.operation = operation
        self.key = key
        self.arguments = arguments
        self.step = step
    }
}

/// What a workflow decided at one point.
public struct WorkflowDecision: Sendable, Equatable {
    /// The entry's new value (`.none`: unchanged).
    public var write: OperationOutput.Write
    /// Requests to send now.
    public var calls: [WorkflowCall]
    /// Set when the workflow is finished: the reply for every client waiting on it.
    public var result: Result?

    public struct Result: Sendable, Equatable {
        public var status: Status
        public var payload: [UInt8]

        public init(status: Status, payload: [UInt8]) {
            self.status = status
            self.payload = payload
        }
    }

    public init(write: OperationOutput.Write = .none, calls: [WorkflowCall] = [], result: Result? = nil) {
        self.write = write
        self.calls = calls
        self.result = result
    }

    /// Nothing to do: for `start`, the workflow is already running and the caller waits for it.
    public static let wait = WorkflowDecision()

    /// Finished at once (bad arguments, or an order already placed): reply, change nothing.
    public static func finished(_ status: Status, _ payload: [UInt8]) -> WorkflowDecision {
        WorkflowDecision(result: Result(status: status, payload: payload))
    }
}

/// One domain operation.
public typealias SectionOperation = @Sendable (OperationInput) -> OperationOutput

/// What an operation sees.
public struct OperationInput: Sendable {
    public let key: [UInt8]
    /// The entry's current value; nil when the key has no entry.
    public let value: [UInt8]?
    /// The entry's current version (0 when none).
    public let version: UInt64
    /// The request's frames after the key (by convention one JSON object).
    public let arguments: [[UInt8]]

    public init(key: [UInt8], value: [UInt8]?, version: UInt64, arguments: [[UInt8]]) {
        self.key = key
        self.value = value
        self.version = version
        self.arguments = arguments
    }

    /// The key as text.
    public var keyText: String { String(decoding: key, as: UTF8.self) }
}

/// What an operation decided.
public struct OperationOutput: Sendable, Equatable {
    public enum Write: Sendable, Equatable {
        /// The entry stays as it is (a read, or a refusal).
        case none
        /// The entry gets this value (created when absent).
        case put([UInt8])
        /// The entry is removed.
        case delete
    }

    public var write: Write
    public var status: Status
    public var payload: [UInt8]

    public init(write: Write, status: Status, payload: [UInt8]) {
        self.write = write
        self.status = status
        self.payload = payload
    }

    /// A success: write (or not) and reply `payload` with 200.
    public static func ok(_ payload: [UInt8], write: Write = .none) -> OperationOutput {
        OperationOutput(write: write, status: .ok, payload: payload)
    }

    /// A refusal: nothing changes, the reply carries the error.
    public static func failure(_ error: GridError) -> OperationOutput {
        OperationOutput(write: .none, status: error.status, payload: error.payload)
    }
}

extension PartitionStore {
    /// Runs a domain operation on the entry of `key` and applies its write.
    public mutating func run(_ operation: SectionOperation, key: [UInt8], arguments: [[UInt8]]) -> OperationOutcome {
        let current = get(key)
        let output = operation(OperationInput(key: key, value: current?.value, version: current?.version ?? 0, arguments: arguments))
        var change: Change?
        switch output.write {
        case .none: break
        case .put(let value): change = put(key, value)
        case .delete: change = delete(key)
        }
        let version = change?.version ?? current?.version ?? 0
        return OperationOutcome(status: output.status, payload: output.payload, version: change?.kind == .delete ? 0 : version, change: change)
    }
}
