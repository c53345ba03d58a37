"""Unit tests of the lab playbook's filters (ansible/filter_plugins/lab.py): run by `make lint-lab`."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "filter_plugins"))
import lab  # noqa: E402

STATS = {"conns": 3000, "held": 2990}


def looks(floods, stats=STATS):
    """The server's labproc look (comet and labmon running, /stats) covering every flood, as run_watch_view gets it."""
    doc = {"procs": [{"name": "comet", "state": "running"}, {"name": "labmon", "state": "running"}],
           "floods": floods, "stats_status": 200 if stats else 0, "stats": stats}
    return [{"item": "server", "stdout": json.dumps(doc)}]


def flood(state="running", final=False, rc=None):
    return {"name": "flood", "state": state, "rc": rc,
            "last": {"established": 1000, "conns_target": 1000, "final": final, "passed": True}}


class RunWatchView(unittest.TestCase):
    def test_stats_holding(self):
        earlier = {"stats_holding": {"conns": 1}}
        cases = [
            ("every flood runs and holds", {"c1": flood(), "c2": flood()}, STATS),
            ("one flood wrote its final line: /stats may count its closing connections",
             {"c1": flood(), "c2": flood(final=True)}, earlier["stats_holding"]),
            ("one flood exited", {"c1": flood(), "c2": flood("exited", True, 0)}, earlier["stats_holding"]),
        ]
        for name, floods, want in cases:
            with self.subTest(name):
                view = lab.run_watch_view(looks(floods), "server", ["c1", "c2"], "hold", 2000, earlier)
                self.assertEqual(view["stats_holding"], want)

    def test_done_and_dead(self):
        cases = [
            ("ramp reaches the target", "ramp", {"c1": flood(), "c2": flood()}, 3000, True, []),
            ("ramp below the target", "ramp", {"c1": flood(), "c2": flood()}, 5000, False, []),
            ("hold with a flood running", "hold", {"c1": flood(), "c2": flood("exited", True, 0)}, 3000, False, []),
            ("hold with every flood done", "hold", {"c1": flood("exited", True, 0), "c2": flood("exited", True, 0)},
             3000, True, []),
            ("a flood killed", "hold", {"c1": flood(), "c2": flood("exited", False, 137)}, 3000, False,
             ["c2"]),
        ]
        for name, phase, floods, target, done, dead in cases:
            with self.subTest(name):
                view = lab.run_watch_view(looks(floods), "server", ["c1", "c2"], phase, target)
                self.assertEqual(view["done"], done)
                self.assertEqual([d.split()[2] for d in view["floods_dead"]], dead)


if __name__ == "__main__":
    unittest.main()
