"""scripts/multihost-test: the grid over network namespaces, with faults and the history checker.

network: the namespaces, veth pairs and bridge, and the faults on them (link down,
netem, blackhole routes). grid: the keys, the topology and one `spacegrid up` per
host. faults: which fault when. cli: arguments and one run. The workload, the
history and the checker are the fault harness's (scripts/chaoslib).
"""
