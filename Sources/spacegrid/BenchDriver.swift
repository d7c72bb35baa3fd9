import Foundation
import GridClient
import ZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One driver thread of a run: it creates, uses and closes the sockets of a
/// few connections and runs their loops (`BenchLoop`) together, the way
/// redis-benchmark drives its connections from one event loop.
///
/// Each wake-up it sends what the open loops have due, waits in one zmq_poll
/// over every connection's socket (up to the earliest due send, at most a
/// slice), drains each readable socket (at most `batch` replies, so one busy
/// connection cannot starve the rest) handing every reply to its loop, and
/// lets every loop look at the phase and its timeout. Within the last
/// millisecond before a due send it polls without waiting and naps briefly,
/// as zmq_poll counts in milliseconds.
///
/// A `--direct` connection (`DirectConnection`) has several sockets (the
/// broker's and one per unit): all of them join the poll, and a connection with
/// any readable is asked for its replies with `receive(timeoutMilliseconds: 0)`.
/// Every direct connection is also asked each slice, so its own timers (a
/// request unanswered for a second goes again through the broker) run while
/// its sockets are quiet.
///
/// Created, used and dropped on its own `Thread`; never touched by another.
final class BenchDriver {
    /// The most replies taken from one socket per wake-up.
    static let batch = 256

    /// One connection of the driver.
    private struct Member {
        let loop: BenchLoop
        let connection: any PipelinedConnection
        /// The native link, polled with the others; nil for a direct connection.
        let link: BenchLink?
        /// A direct connection, whose sockets are polled with the others.
        let direct: DirectConnection?
        var closed = false
        var arrived = false
        var finished = false
    }

    private let plan: BenchPlan
    private let board: BenchBoard
    private var members: [Member] = []
    /// Connections that could not connect, with their failure: they arrive at once and finish after the start line.
    private var unconnected: [(index: Int, result: BenchConnectionResult)] = []
    /// Watches the sockets of the open native links; `polled[i]` is the member of item i.
    private var poller = Poller()
    private var polled: [Int] = []
    private var pollerStale = true
    /// The direct connections' socket sets the poller was built with, and when they were last swept.
    private var directVersions = 0
    private var lastDirectSweep: UInt64 = 0

    private init(plan: BenchPlan, board: BenchBoard) {
        self.plan = plan
        self.board = board
    }

    /// The body of a driver thread for connections `indices`: connect, preload
    /// their shares, meet the others at the start line, run the loops, report.
    static func run(indices: [Int], plan: BenchPlan, board: BenchBoard, context: Context) {
        let driver = BenchDriver(plan: plan, board: board)
        driver.connect(indices, context)
        driver.preload()
        board.waitForStart(indices.count)
        driver.runLoops()
        for (index, result) in driver.unconnected { board.finish(index, result) }
    }

    private func connect(_ indices: [Int], _ context: Context) {
        for index in indices {
            do {
                if plan.direct {
                    let connection = try DirectConnection(context: context, endpoint: plan.endpoint)
                    members.append(Member(loop: BenchLoop(index: index, plan: plan, board: board, connection: connection), connection: connection, link: nil, direct: connection))
                } else {
                    let link = try BenchLink(context: context, endpoint: plan.endpoint)
                    members.append(Member(loop: BenchLoop(index: index, plan: plan, board: board, connection: link), connection: link, link: link, direct: nil))
                }
            } catch {
                var result = BenchConnectionResult(operations: plan.workload.operations.count, keys: plan.keys)
                result.failure = "cannot connect to \(plan.endpoint): \(error)"
                board.arrive(index, result)
                unconnected.append((index, result))
            }
        }
    }

    /// Runs every loop's preload until each is at the start line (stored, given up or failed).
    private func preload() {
        let now = BenchClock.nanoseconds()
        for member in members { guarded(member) { () throws(ZMQError) in try member.loop.startPreload(at: now) } }
        settle()
        pump { $0.stage == .preloading }
    }

    /// Opens every loop's run at one start time and pumps until each is done.
    private func runLoops() {
        let start = BenchClock.nanoseconds()
        for member in members { guarded(member) { () throws(ZMQError) in try member.loop.startRun(at: start) } }
        settle()
        pump { $0.stage != .done }
    }

    // MARK: - The event loop

    /// Sends, waits, hands out replies and ticks the loops while any loop is `busy`.
    private func pump(while busy: (BenchLoop) -> Bool) {
        while members.contains(where: { busy($0.loop) }) {
            let now = BenchClock.nanoseconds()
            var due = UInt64.max
            for member in members where member.loop.stage == .running {
                guarded(member) { () throws(ZMQError) in try member.loop.sendDue(now: now) }
                if let next = member.loop.nextDue { due = min(due, next) }
            }
            let remaining = due == .max ? UInt64.max : due &- min(due, BenchClock.nanoseconds())
            let waitMilliseconds = remaining >= 1_000_000
                ? min(Int(min(remaining / 1_000_000, 1_000_000)), BenchLoop.sliceMilliseconds, plan.timeoutMilliseconds)
                : 0
            let heard = wait(milliseconds: waitMilliseconds)
            if !heard, waitMilliseconds == 0 { Self.nap(min(remaining, BenchLoop.napNanoseconds)) }
            let after = BenchClock.nanoseconds()
            let phase = board.phase
            for member in members { member.loop.onTick(now: after, phase: phase) }
            settle()
        }
    }

    /// Waits up to `milliseconds` for replies and hands every one waiting to its loop; whether any came.
    private func wait(milliseconds: Int) -> Bool {
        if plan.direct {
            let versions = members.reduce(0) { $0 + ($1.closed ? 0 : $1.direct?.socketsVersion ?? 0) }
            if versions != directVersions { pollerStale = true }
        }
        if pollerStale { rebuildPoller() }
        guard !polled.isEmpty else {
            // Every socket is closed (no loop can be busy then); never spin.
            Self.nap(UInt64(milliseconds) * 1_000_000)
            return false
        }
        do {
            guard try poller.poll(timeoutMilliseconds: milliseconds) > 0 else { return false }
        } catch {
            for member in members where !member.closed { member.loop.fail(error) }
            return false
        }
        var heard = false
        var lastSlot = -1
        for (item, slot) in polled.enumerated() where poller.isReadable(item) && slot != lastSlot {
            // A direct connection's sockets sit next to each other: it is asked once.
            lastSlot = slot
            if drain(members[slot]) { heard = true }
        }
        let now = BenchClock.nanoseconds()
        if plan.direct, now - lastDirectSweep >= UInt64(BenchLoop.sliceMilliseconds) * 1_000_000 {
            lastDirectSweep = now
            for member in members where !member.closed && member.direct != nil {
                if drain(member) { heard = true }
            }
        }
        return heard
    }

    /// Hands every reply waiting on `member`'s connection (at most `batch`) to its loop; whether any came.
    private func drain(_ member: Member) -> Bool {
        var heard = false
        guarded(member) { () throws(ZMQError) in
            for _ in 0..<Self.batch {
                let received: (UInt64, GridReply)?
                if let link = member.link {
                    received = try link.receive()
                } else {
                    received = try member.connection.receive(timeoutMilliseconds: 0)
                }
                guard let (correlation, reply) = received else { break }
                heard = true
                try member.loop.onReply(correlation, reply, at: BenchClock.nanoseconds())
            }
        }
        return heard
    }

    /// Hands the connections that reached the start line to the board, closes the
    /// sockets of those that need them no more, and reports those that are done.
    private func settle() {
        for slot in members.indices {
            let loop = members[slot].loop
            if !members[slot].closed, !loop.wantsSockets {
                members[slot].connection.close()
                members[slot].closed = true
                pollerStale = true
            }
            if !members[slot].arrived, loop.stage != .preloading {
                board.arrive(loop.index, loop.result)
                members[slot].arrived = true
            }
            if !members[slot].finished, loop.stage == .done {
                board.finish(loop.index, loop.result)
                members[slot].finished = true
            }
        }
    }

    private func rebuildPoller() {
        poller = Poller()
        polled = []
        directVersions = 0
        for (slot, member) in members.enumerated() where !member.closed {
            if let link = member.link {
                poller.add(link.socket)
                polled.append(slot)
            } else if let direct = member.direct {
                for socket in direct.sockets {
                    poller.add(socket)
                    polled.append(slot)
                }
                directVersions += direct.socketsVersion
            }
        }
        pollerStale = false
    }

    /// Runs `body`, turning a ZeroMQ failure into the end of `member`'s connection.
    private func guarded(_ member: Member, _ body: () throws(ZMQError) -> Void) {
        do {
            try body()
        } catch {
            member.loop.fail(error)
        }
    }

    private static func nap(_ nanoseconds: UInt64) {
        var request = timespec(tv_sec: 0, tv_nsec: Int(nanoseconds))
        nanosleep(&request, nil)
    }
}
