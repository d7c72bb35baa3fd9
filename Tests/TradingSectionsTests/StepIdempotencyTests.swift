import GridCore
import TradingSections
import XCTest

/// F2.1 of the review: a workflow step sent again after its order settled (a deposed order
/// primary's late copy, or a resume by the new one) must not move money a second time.
/// Steps carry request ids, and the partition remembers the first reply.
final class StepIdempotencyTests: XCTestCase {
    private let route = Route(partition: 0, epoch: 1)

    private func unit() -> UnitStore {
        var store = UnitStore()
        _ = store.renewLease(until: .max, now: 0)
        _ = store.onAssign([Assignment(lease: Lease(partition: 0, epoch: 1, role: .primary), primary: "customer-1", backups: [])], now: 0)
        return store
    }

    private func run(_ store: inout UnitStore, _ operation: String, _ arguments: String, request: RequestID?) -> String {
        let served = store.handle(route: route, run: customerSection.operations[operation]!, key: Array("42".utf8),
                                  arguments: [Array(arguments.utf8)], request: request, sync: true, now: 1)
        return String(decoding: served.outcome?.payload ?? [], as: UTF8.self)
    }

    private func balance(_ store: UnitStore) -> String {
        String(decoding: store.led(0)?.store.get(Array("42".utf8))?.value ?? [], as: UTF8.self)
    }

    func testALateCopyOfASettledDebitIsAppliedOnce() {
        var store = unit()
        _ = run(&store, "open", #"{"balance":1000}"#, request: RequestID(client: Array("setup".utf8), sequence: 1))
        let debit = RequestID(client: Array("wf:order/o-1".utf8), sequence: FNV1a.hash(Array("debit".utf8)))
        let commit = RequestID(client: Array("wf:order/o-1".utf8), sequence: FNV1a.hash(Array("commit_customer".utf8)))
        XCTAssertEqual(run(&store, "debit", #"{"amount":100,"id":"o-1/debit"}"#, request: debit), #"{"balance":900}"#)
        _ = run(&store, "commit", #"{"id":"o-1/debit"}"#, request: commit)
        XCTAssertTrue(balance(store).hasPrefix(#"{"balance":900,"pending":{}"#), balance(store))
        // The late copy: the pending id is gone, but the request id is remembered.
        XCTAssertEqual(run(&store, "debit", #"{"amount":100,"id":"o-1/debit"}"#, request: debit), #"{"balance":900}"#, "its first reply")
        XCTAssertTrue(balance(store).hasPrefix(#"{"balance":900,"#), "applied once: \(balance(store))")
        // What the review saw without request ids: the same late copy debits again.
        XCTAssertEqual(run(&store, "debit", #"{"amount":100,"id":"o-1/debit"}"#, request: nil), #"{"balance":800}"#)
    }
}
