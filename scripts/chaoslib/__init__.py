"""chaoslib: the parts of `scripts/chaos`, SpaceGrid's fault-injection harness.

- wire.py     the native protocol SGC02 (frames in, frames out), no sockets;
- history.py  the record of one operation, shared by the clients and the checker;
- client.py   DEALER connections with request ids, retries, and the workload threads;
- direct.py   the direct path (SGD02): partition hash, route table, partition-aware connection;
- grid.py     the topology, `spacegrid up`, `spacegrid status --json`, the database;
- nemesis.py  the faults (kill, pause, database away) and waiting for a whole grid;
- checker.py  pure rules over a history: what counts as a violation;
- report.py   unavailability, the per-nemesis table, the summary lines;
- cli.py      argument parsing and the run from start to finish.
"""
