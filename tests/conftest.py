"""Shared fixtures: the repo root on sys.path, and pytest markers; a directory for the whole run
(DM_TEST_RUN_DIR, shared by every xdist worker); at the end of a run, what the end-to-end tests spent
per file (tests/e2e/tally.py: counted on the workers, summed here)."""

import os
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))



def pytest_configure(config):
    """Made by the process that runs first (xdist's controller, or the only one); workers inherit it."""
    if "DM_TEST_RUN_DIR" not in os.environ:
        os.environ["DM_TEST_RUN_DIR"] = tempfile.mkdtemp(prefix="dm-test-run-")
        config.made_run_dir = os.environ["DM_TEST_RUN_DIR"]


def pytest_unconfigure(config):
    if getattr(config, "made_run_dir", None):
        shutil.rmtree(config.made_run_dir, ignore_errors=True)
        del os.environ["DM_TEST_RUN_DIR"]


TALLY_KINDS = ("hosts", "deploys", "databases", "history")
SPENT: dict = defaultdict(lambda: defaultdict(float))


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if "/e2e/" not in path:
        return
    SPENT[path]["seconds"] += report.duration
    if report.when == "teardown":
        SPENT[path]["tests"] += 1
        for name, counts in report.user_properties:
            if name == "tally":
                for kind, times in counts.items():
                    SPENT[path][kind] += times


def pytest_terminal_summary(terminalreporter, config):
    if hasattr(config, "workerinput") or not SPENT:
        return
    columns = ("tests", *TALLY_KINDS, "seconds")
    width = max(len(path) for path in SPENT)
    terminalreporter.section("end-to-end tests: what each file spent (seconds summed over workers)")
    terminalreporter.write_line(f"{'':<{width}}  " + "  ".join(f"{column:>9}" for column in columns))
    totals: dict = defaultdict(float)
    for path in sorted(SPENT, key=lambda path: -SPENT[path]["seconds"]):
        terminalreporter.write_line(f"{path:<{width}}  " + "  ".join(
            f"{SPENT[path][column]:>9.0f}" for column in columns))
        for column in columns:
            totals[column] += SPENT[path][column]
    terminalreporter.write_line(f"{'total':<{width}}  " + "  ".join(f"{totals[column]:>9.0f}" for column in columns))
