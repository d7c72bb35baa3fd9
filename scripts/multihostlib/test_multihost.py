"""The multihost harness's pure parts: placement, topology text, key files, arguments."""

import os
import tempfile
import unittest

from multihostlib import cli
from multihostlib.faults import KINDS, hold_range
from multihostlib.grid import HOSTS, SHAPES, read_key_file, topology_text, units_on
from multihostlib.network import Network


class PlacementTests(unittest.TestCase):
    def test_every_unit_runs_on_exactly_one_host(self):
        placed = [name for host in HOSTS for name in units_on(host)]
        expected = ["%s-%d" % (section, index + 1) for section, shape in SHAPES.items() for index in range(shape["units"])]
        self.assertEqual(sorted(placed), sorted(expected))
        self.assertIn("register-1", units_on("h1"))
        self.assertEqual(units_on("h2"), ["register-2", "customer-1"])

    def test_each_partition_can_have_its_copies_on_different_hosts(self):
        for section, shape in SHAPES.items():
            hosts = {host for host in HOSTS for name in units_on(host) if name.startswith(section + "-")}
            self.assertGreaterEqual(len(hosts), shape["backups"] + 1, section)


class TopologyTests(unittest.TestCase):
    def test_the_topology_names_hosts_the_broker_on_h1_and_curve(self):
        network = Network(HOSTS + ["client"], prefix="sgtest", subnet="10.99.1")
        text = topology_text(network.addresses, "/tmp/x.sqlite", "/tmp/keys")
        self.assertIn("  h2: 10.99.1.2\n", text)
        self.assertIn("  clients: tcp://10.99.1.1:5570\n", text)
        self.assertIn("    hosts: [h2, h3]\n", text)
        self.assertIn("  path: /tmp/x.sqlite\n", text)
        self.assertTrue(text.endswith("security:\n  mode: curve\n  keys: /tmp/keys\n"))
        self.assertNotIn("client:", text, "the client host is not a grid host")

    def test_a_key_file_is_read_as_spacegrid_writes_it(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "client.key")
            with open(path, "w") as handle:
                handle.write('# SpaceGrid CURVE key pair \'client\': keep this file secret.\npublic = "%s"\nsecret = "%s"\n' % ("a" * 40, "b" * 40))
            self.assertEqual(read_key_file(path), {"public": "a" * 40, "secret": "b" * 40})


class ArgumentTests(unittest.TestCase):
    def test_defaults_fit_in_five_minutes(self):
        args = cli.parse_args([])
        self.assertEqual(args.faults, KINDS)
        self.assertLessEqual(args.duration, 180)

    def test_bad_arguments_exit_two(self):
        for argv in (["--faults", "flood"], ["--duration", "0"], ["--clients", "2", "--direct", "3"]):
            with self.assertRaises(SystemExit) as raised:
                cli.parse_args(argv)
            self.assertEqual(raised.exception.code, 2, argv)

    def test_faults_hold_for_seconds_netem_longer(self):
        for kind in KINDS:
            low, high = hold_range(kind)
            self.assertLess(low, high)
        self.assertGreaterEqual(hold_range("netem")[0], 10)


if __name__ == "__main__":
    unittest.main()
