"""Unit tests of checker.py on synthetic histories: each rule has histories that
must produce a violation and histories that must not.

Run from the repository: python3 -m unittest discover -s scripts/chaoslib -p 'test_*.py'
"""

import json
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chaoslib import checker  # noqa: E402
from chaoslib.history import ACCOUNT, CUSTOMER, FAIL, GET, OK, PUT, REGISTER, TRADE, UNKNOWN, Op  # noqa: E402


def put(key, value, version, invoke, complete, outcome=OK, status=None):
    """An acknowledged (by default) register put of `value` that got `version`."""
    if status is None:
        status = {OK: 200, FAIL: 400, UNKNOWN: 504}[outcome]
    return Op(PUT, key, client="c1", value=value.encode(), invoke=invoke, complete=complete,
              outcome=outcome, status=status, version=version if outcome == OK else 0)


def get(key, value, version, invoke, complete, final=False):
    """A register get answered 200 with `value` at `version`."""
    return Op(GET, key, client="c2", invoke=invoke, complete=complete, outcome=OK, status=200,
              version=version, payload=value.encode(), final=final)


def absent(key, invoke, complete, final=False):
    """A register get answered 404."""
    return Op(GET, key, client="c2", invoke=invoke, complete=complete, outcome=FAIL, status=404,
              code="not_found", final=final)


def trade(account, amount, balance, version, invoke, complete, outcome=OK):
    """A trade; `balance` is what the reply said (ok trades only)."""
    payload = json.dumps({"balance": balance, "status": "success"}).encode() if outcome == OK else b""
    status = {OK: 200, FAIL: 409, UNKNOWN: 504}[outcome]
    return Op(TRADE, account, client="c3", amount=amount, invoke=invoke, complete=complete,
              outcome=outcome, status=status, version=version if outcome == OK else 0, payload=payload)


def account(name, balance, version, time=100.0):
    """The final check's read of an account."""
    return Op(ACCOUNT, name, client="final", invoke=time, complete=time + 0.01, outcome=OK, status=200,
              version=version, payload=json.dumps({"balance": balance, "pending": {}, "trades": []}).encode(), final=True)


def rules(found):
    """The rule names of a list of violations, for compact assertions."""
    return [v["rule"] for v in found]


class HighestBeforeTests(unittest.TestCase):
    def test_strictly_before(self):
        index = checker.HighestBefore([(1.0, 3, "a"), (2.0, 7, "b"), (3.0, 5, "c")])
        self.assertIsNone(index.before(1.0))
        self.assertEqual(index.before(1.5)[1], 3)
        self.assertEqual(index.before(2.0)[1], 3)
        self.assertEqual(index.before(10.0)[2], "b")


class StaleReadTests(unittest.TestCase):
    def test_read_after_acknowledged_write_sees_older_version(self):
        history = [put("r1", "w1", 3, 0.0, 0.5), put("r1", "w2", 5, 1.0, 2.0), get("r1", "w1", 3, 2.5, 2.6)]
        found = checker.check_stale_reads(history)
        self.assertEqual(rules(found), ["stale-read"])
        self.assertEqual(found[0]["key"], "r1")
        self.assertEqual(found[0]["time"], 2.5)
        self.assertIn("expected version >= 5, saw 3", found[0]["detail"])

    def test_read_concurrent_with_write_may_see_older_version(self):
        history = [put("r1", "w1", 3, 0.0, 0.5), put("r1", "w2", 5, 1.0, 2.0), get("r1", "w1", 3, 1.9, 2.6)]
        self.assertEqual(checker.check_stale_reads(history), [])

    def test_read_of_newer_or_equal_version_is_fine(self):
        history = [put("r1", "w2", 5, 1.0, 2.0), get("r1", "w2", 5, 2.5, 2.6), get("r1", "w3", 9, 2.5, 2.6)]
        self.assertEqual(checker.check_stale_reads(history), [])

    def test_not_found_after_acknowledged_write_is_stale(self):
        history = [put("r1", "w1", 3, 0.0, 0.5), absent("r1", 1.0, 1.1)]
        self.assertEqual(rules(checker.check_stale_reads(history)), ["stale-read"])

    def test_unknown_or_failed_writes_do_not_count(self):
        history = [put("r1", "w1", 3, 0.0, 0.5), put("r1", "w2", 0, 1.0, 16.0, outcome=UNKNOWN),
                   put("r1", "w3", 0, 1.0, 1.1, outcome=FAIL), get("r1", "w1", 3, 20.0, 20.1)]
        self.assertEqual(checker.check_stale_reads(history), [])

    def test_other_keys_do_not_count(self):
        history = [put("r2", "w1", 9, 0.0, 0.5), get("r1", "w0", 1, 1.0, 1.1)]
        self.assertEqual(checker.check_stale_reads(history), [])

    def test_final_read_below_acknowledged_version_is_a_lost_write(self):
        history = [put("r1", "w1", 3, 0.0, 0.5), put("r1", "w2", 5, 1.0, 2.0), get("r1", "w1", 3, 50.0, 50.1, final=True)]
        self.assertEqual(rules(checker.check_stale_reads(history)), ["lost-write"])

    def test_final_read_missing_key_is_a_lost_write(self):
        history = [put("r1", "w1", 3, 0.0, 0.5), absent("r1", 50.0, 50.1, final=True)]
        self.assertEqual(rules(checker.check_stale_reads(history)), ["lost-write"])

    def test_one_violation_per_read(self):
        history = [put("r1", "w%d" % i, i, i, i + 0.5) for i in range(1, 6)] + [get("r1", "w1", 1, 10.0, 10.1)]
        self.assertEqual(len(checker.check_stale_reads(history)), 1)


class MonotonicReadTests(unittest.TestCase):
    def test_later_read_sees_lower_version(self):
        history = [get("r1", "b", 5, 0.0, 1.0), get("r1", "a", 4, 2.0, 3.0)]
        self.assertEqual(rules(checker.check_read_monotonic(history)), ["read-monotonic"])

    def test_later_read_sees_not_found_after_a_value(self):
        history = [get("r1", "b", 5, 0.0, 1.0), absent("r1", 2.0, 3.0)]
        self.assertEqual(rules(checker.check_read_monotonic(history)), ["read-monotonic"])

    def test_overlapping_reads_may_disagree(self):
        history = [get("r1", "b", 5, 0.0, 1.0), get("r1", "a", 4, 0.5, 3.0)]
        self.assertEqual(checker.check_read_monotonic(history), [])

    def test_increasing_reads_are_fine(self):
        history = [absent("r1", 0.0, 0.1), get("r1", "a", 4, 1.0, 1.1), get("r1", "a", 4, 2.0, 2.1), get("r1", "b", 6, 3.0, 3.1)]
        self.assertEqual(checker.check_read_monotonic(history), [])

    def test_reads_of_different_keys_are_independent(self):
        history = [get("r1", "b", 5, 0.0, 1.0), get("r2", "a", 4, 2.0, 3.0)]
        self.assertEqual(checker.check_read_monotonic(history), [])


class VersionReuseTests(unittest.TestCase):
    def test_two_writes_acknowledged_with_one_version(self):
        history = [put("r1", "a", 5, 0.0, 1.0), put("r1", "b", 5, 0.5, 1.5)]
        self.assertEqual(rules(checker.check_version_reuse(history)), ["version-reuse"])

    def test_read_sees_another_value_at_a_written_version(self):
        history = [put("r1", "a", 5, 0.0, 1.0), put("r1", "b", 0, 0.0, 16.0, outcome=UNKNOWN), get("r1", "b", 5, 2.0, 2.1)]
        self.assertEqual(rules(checker.check_version_reuse(history)), ["version-reuse"])

    def test_reported_once_per_version(self):
        history = [put("r1", "a", 5, 0.0, 1.0), get("r1", "b", 5, 2.0, 2.1), get("r1", "b", 5, 3.0, 3.1), get("r1", "a", 5, 4.0, 4.1)]
        self.assertEqual(len(checker.check_version_reuse(history)), 1)

    def test_same_value_same_version_is_fine(self):
        history = [put("r1", "a", 5, 0.0, 1.0), get("r1", "a", 5, 2.0, 2.1), get("r1", "a", 5, 0.5, 0.6)]
        self.assertEqual(checker.check_version_reuse(history), [])

    def test_later_write_with_lower_version(self):
        history = [put("r1", "a", 7, 0.0, 1.0), put("r1", "b", 6, 2.0, 3.0)]
        self.assertEqual(rules(checker.check_version_reuse(history)), ["version-reuse"])

    def test_concurrent_writes_may_get_any_order(self):
        history = [put("r1", "a", 7, 0.0, 1.0), put("r1", "b", 6, 0.5, 3.0)]
        self.assertEqual(checker.check_version_reuse(history), [])

    def test_same_version_on_different_keys_is_fine(self):
        history = [put("r1", "a", 5, 0.0, 1.0), put("r2", "b", 5, 2.0, 3.0)]
        self.assertEqual(checker.check_version_reuse(history), [])


class UnknownValueTests(unittest.TestCase):
    def test_value_nobody_wrote(self):
        history = [put("r1", "a", 1, 0.0, 1.0), get("r1", "zzz", 1, 2.0, 2.1)]
        self.assertEqual(rules(checker.check_unknown_values(history)), ["unknown-value"])

    def test_value_written_to_another_key(self):
        history = [put("r2", "a", 1, 0.0, 1.0), get("r1", "a", 1, 2.0, 2.1)]
        self.assertEqual(rules(checker.check_unknown_values(history)), ["unknown-value"])

    def test_value_of_a_failed_write(self):
        history = [put("r1", "a", 0, 0.0, 1.0, outcome=FAIL), get("r1", "a", 1, 2.0, 2.1)]
        self.assertEqual(rules(checker.check_unknown_values(history)), ["unknown-value"])

    def test_value_read_before_its_write_began(self):
        history = [get("r1", "a", 1, 0.0, 0.5), put("r1", "a", 1, 1.0, 2.0)]
        self.assertEqual(rules(checker.check_unknown_values(history)), ["unknown-value"])

    def test_values_of_ok_unknown_and_concurrent_writes_are_fine(self):
        history = [put("r1", "a", 1, 0.0, 1.0), put("r1", "b", 0, 1.0, 16.0, outcome=UNKNOWN),
                   put("r1", "c", 3, 5.0, 6.0), get("r1", "a", 1, 1.5, 1.6), get("r1", "b", 2, 30.0, 30.1),
                   get("r1", "c", 3, 4.0, 5.5)]
        self.assertEqual(checker.check_unknown_values(history), [])


class MoneyTests(unittest.TestCase):
    def test_exact_balance_is_fine(self):
        history = [trade("a1", 100, 900, 2, 0.0, 1.0), trade("a1", 50, 850, 3, 1.0, 2.0), account("a1", 850, 3)]
        self.assertEqual(checker.check_money(history, {"a1": 1000}), [])

    def test_trade_applied_twice(self):
        history = [trade("a1", 100, 900, 2, 0.0, 1.0), account("a1", 800, 3)]
        found = checker.check_money(history, {"a1": 1000})
        self.assertEqual(rules(found), ["money"])
        self.assertIn("applied twice", found[0]["detail"])

    def test_acknowledged_trade_lost(self):
        history = [trade("a1", 100, 900, 2, 0.0, 1.0), account("a1", 1000, 1)]
        found = checker.check_money(history, {"a1": 1000})
        self.assertIn("money", rules(found))
        self.assertIn("lost", found[0]["detail"])

    def test_unknown_trades_may_or_may_not_apply(self):
        history = [trade("a1", 100, 900, 2, 0.0, 1.0), trade("a1", 30, 0, 0, 1.0, 16.0, outcome=UNKNOWN),
                   trade("a1", 50, 0, 0, 1.0, 16.0, outcome=UNKNOWN)]
        for final in (900, 870, 850, 820):
            self.assertEqual(checker.check_money(history + [account("a1", final, 9)], {"a1": 1000}), [], final)

    def test_no_subset_of_unknown_trades_fits(self):
        history = [trade("a1", 100, 900, 2, 0.0, 1.0), trade("a1", 30, 0, 0, 1.0, 16.0, outcome=UNKNOWN),
                   trade("a1", 50, 0, 0, 1.0, 16.0, outcome=UNKNOWN)]
        found = checker.check_money(history + [account("a1", 880, 9)], {"a1": 1000})
        self.assertEqual(rules(found), ["money"])
        self.assertIn("no subset", found[0]["detail"])

    def test_failed_trade_counts_nothing(self):
        history = [trade("a1", 100, 900, 2, 0.0, 1.0), trade("a1", 50, 0, 0, 1.0, 2.0, outcome=FAIL)]
        self.assertEqual(checker.check_money(history + [account("a1", 900, 2)], {"a1": 1000}), [])
        self.assertEqual(rules(checker.check_money(history + [account("a1", 850, 3)], {"a1": 1000})), ["money"])

    def test_failed_after_resend_is_named_when_it_explains_the_difference(self):
        refused = trade("a1", 50, 0, 0, 1.0, 2.5, outcome=FAIL)
        refused.attempts = 2
        found = checker.check_money([trade("a1", 100, 900, 2, 0.0, 1.0), refused, account("a1", 850, 3)], {"a1": 1000})
        self.assertEqual(rules(found), ["money"])
        self.assertIn("failed after a resend", found[0]["detail"])
        self.assertIn("sent 2 times", found[0]["detail"])

    def test_many_unknown_trades_checked_as_a_range(self):
        unknown = [trade("a1", 10, 0, 0, 1.0, 16.0, outcome=UNKNOWN) for _ in range(25)]
        self.assertEqual(checker.check_money(unknown + [account("a1", 1000 - 125, 9)], {"a1": 1000}), [])
        self.assertEqual(checker.check_money(unknown + [account("a1", 1000 - 250, 9)], {"a1": 1000}), [])
        self.assertEqual(rules(checker.check_money(unknown + [account("a1", 1000 - 260, 9)], {"a1": 1000})), ["money"])
        self.assertEqual(rules(checker.check_money(unknown + [account("a1", 1001, 9)], {"a1": 1000})), ["money", "money"])

    def test_reply_balances_must_fall_by_each_amount(self):
        history = [trade("a1", 100, 900, 2, 0.0, 1.0), trade("a1", 50, 900, 3, 1.0, 2.0), account("a1", 850, 3)]
        found = checker.check_money(history, {"a1": 1000})
        self.assertEqual(rules(found), ["money"])
        self.assertIn("expected a balance <= 900 - 50 = 850, reply says 900", found[0]["detail"])

    def test_reply_balances_may_fall_further_for_unknown_trades(self):
        history = [trade("a1", 100, 900, 2, 0.0, 1.0), trade("a1", 7, 0, 0, 1.0, 16.0, outcome=UNKNOWN),
                   trade("a1", 50, 843, 4, 2.0, 3.0), account("a1", 843, 4)]
        self.assertEqual(checker.check_money(history, {"a1": 1000}), [])

    def test_first_reply_checked_against_initial_balance(self):
        history = [trade("a1", 100, 950, 2, 0.0, 1.0), account("a1", 900, 2)]
        self.assertIn("money", rules(checker.check_money(history, {"a1": 1000})))

    def test_final_balance_above_last_reply(self):
        history = [trade("a1", 30, 850, 2, 0.0, 1.0, outcome=OK), trade("a1", 120, 0, 0, 0.0, 16.0, outcome=UNKNOWN),
                   account("a1", 970, 2)]
        found = checker.check_money(history, {"a1": 1000})
        self.assertTrue(any("above the last trade's reply" in v["detail"] for v in found))

    def test_account_missing_at_the_end(self):
        gone = Op(ACCOUNT, "a1", invoke=100.0, complete=100.1, outcome=FAIL, status=404, final=True)
        self.assertEqual(rules(checker.check_money([gone], {"a1": 1000})), ["money"])

    def test_no_final_read_is_left_to_the_final_read_rule(self):
        self.assertEqual(checker.check_money([trade("a1", 100, 900, 2, 0.0, 1.0)], {"a1": 1000}), [])
        self.assertEqual(rules(checker.check_final_reads([], [(CUSTOMER, "a1")])), ["final-read"])

    def test_subset_sums(self):
        self.assertEqual(checker.subset_sums([]), {0})
        self.assertEqual(checker.subset_sums([3, 5]), {0, 3, 5, 8})


class DatabaseTests(unittest.TestCase):
    def test_equal_state_is_fine(self):
        grid = {(REGISTER, "r1"): (b"v", 5), (REGISTER, "r2"): None, (CUSTOMER, "a1"): (b"{}", 9)}
        database = {(REGISTER, b"r1"): (b"v", 5), (CUSTOMER, b"a1"): (b"{}", 9)}
        self.assertEqual(checker.check_database(grid, database), [])

    def test_other_version_or_value(self):
        grid = {(REGISTER, "r1"): (b"v", 5), (CUSTOMER, "a1"): (b"{}", 9)}
        database = {(REGISTER, b"r1"): (b"v", 4), (CUSTOMER, b"a1"): (b"{x}", 9)}
        found = checker.check_database(grid, database)
        self.assertEqual([(v["rule"], v["key"]) for v in found], [("database", "a1"), ("database", "r1")])

    def test_row_missing_from_database(self):
        found = checker.check_database({(REGISTER, "r1"): (b"v", 5)}, {})
        self.assertEqual(rules(found), ["database"])
        self.assertIn("no row", found[0]["detail"])

    def test_row_the_grid_does_not_hold(self):
        self.assertEqual(rules(checker.check_database({(REGISTER, "r1"): None}, {(REGISTER, b"r1"): (b"v", 5)})), ["database"])
        self.assertEqual(rules(checker.check_database({}, {(REGISTER, b"zz"): (b"v", 5)})), ["database"])

    def test_unread_keys_and_other_sections_are_skipped(self):
        database = {(REGISTER, b"r1"): (b"v", 5), ("product", b"p"): (b"x", 1)}
        self.assertEqual(checker.check_database({}, database, unread=[(REGISTER, "r1")]), [])


def correct_history(seed, operations=600, unknown_rate=0.05):
    """A history a correct grid could produce, with its database.

    Each operation takes effect at one instant between its invoke and complete
    (an unknown one, at any later instant or never); the store applies them in
    that order with a per-key version counter. Returns (ops, initial, database).
    """
    rng = random.Random(seed)
    keys, accounts = ["r%d" % i for i in range(5)], ["a%d" % i for i in range(3)]
    initial = {name: 100_000 for name in accounts}
    planned = []
    for n in range(operations):
        invoke = rng.uniform(0, 60)
        complete = invoke + rng.uniform(0.001, 2.0)
        kind = rng.choice([PUT, PUT, GET, GET, TRADE])
        key = rng.choice(keys if kind in (PUT, GET) else accounts)
        op = Op(kind, key, client="c%d" % (n % 4), sequence=n, invoke=invoke, complete=complete)
        if kind == PUT:
            op.value = ("c%d-%d" % (n % 4, n)).encode()
        if kind == TRADE:
            op.amount = rng.randint(1, 300)
        applies = True
        if kind != GET and rng.random() < unknown_rate:
            op.outcome, op.status, op.complete = UNKNOWN, 504, invoke + 15
            applies = rng.random() < 0.5
            moment = rng.uniform(invoke, 120)
        else:
            op.outcome = OK  # answered: its reply is filled in when the store applies it
            moment = rng.uniform(invoke, complete)
        planned.append((moment, op, applies))
    store = {name: (json.dumps({"balance": initial[name]}).encode(), 1) for name in accounts}
    sequence = 1
    ops = [op for _, op, _ in planned]
    for _, op, applies in sorted(planned, key=lambda p: p[0]):
        if not applies:
            continue
        if op.kind == GET:
            held = store.get(op.key)
            if held is None:
                op.outcome, op.status = FAIL, 404
            else:
                op.outcome, op.status, op.payload, op.version = OK, 200, held[0], held[1]
            continue
        sequence += 1
        if op.kind == PUT:
            store[op.key] = (op.value, sequence)
        else:
            balance = json.loads(store[op.key][0])["balance"] - op.amount
            store[op.key] = (json.dumps({"balance": balance}).encode(), sequence)
            if op.outcome != UNKNOWN:
                op.payload = json.dumps({"balance": balance, "status": "success"}).encode()
        if op.outcome != UNKNOWN:
            op.outcome, op.status, op.version = OK, 200, sequence
    for name in keys + accounts:
        kind = GET if name in keys else ACCOUNT
        final = Op(kind, name, client="final", invoke=200.0, complete=200.1, final=True)
        if name in store:
            final.outcome, final.status, final.payload, final.version = OK, 200, store[name][0], store[name][1]
        else:
            final.outcome, final.status = FAIL, 404
        ops.append(final)
    sections = {name: (REGISTER if name in keys else CUSTOMER) for name in keys + accounts}
    database = {(sections[name], name.encode()): held for name, held in store.items()}
    expected = [(sections[name], name) for name in keys + accounts]
    return ops, initial, database, expected


class WholeHistoryTests(unittest.TestCase):
    def test_correct_histories_have_no_violations(self):
        for seed in range(30):
            ops, initial, database, expected = correct_history(seed)
            self.assertEqual(checker.check_all(ops, initial, database, expected), [], "seed %d" % seed)

    def test_a_stale_read_is_found_in_a_correct_history(self):
        ops, initial, database, expected = correct_history(7)
        write = max((op for op in ops if op.kind == PUT and op.outcome == OK), key=lambda op: op.version)
        older = min((op for op in ops if op.kind == PUT and op.outcome == OK and op.key == write.key), key=lambda op: op.version)
        ops.append(get(write.key, older.value.decode(), older.version, 199.0, 199.1))
        self.assertIn("stale-read", rules(checker.check_all(ops, initial, database, expected)))

    def test_a_lost_database_row_is_found(self):
        ops, initial, database, expected = correct_history(8)
        database.pop(next(iter(database)))
        self.assertEqual(rules(checker.check_all(ops, initial, database, expected)), ["database"])

    def test_a_trade_applied_twice_is_found(self):
        ops, initial, database, expected = correct_history(9)
        final = next(op for op in ops if op.final and op.kind == ACCOUNT)
        balance = json.loads(final.payload)["balance"]
        final.payload = json.dumps({"balance": balance - 5}).encode()
        database[(CUSTOMER, final.key.encode())] = (final.payload, final.version)
        self.assertIn("money", rules(checker.check_all(ops, initial, database, expected)))


if __name__ == "__main__":
    unittest.main()
