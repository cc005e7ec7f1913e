"""Which images may go live: the gate's records and its one rule, and when the schema is ahead."""

import json
import time

import pytest

from dokku_migrations.gate import policy as gates
from dokku_migrations.gate.history import ROLLBACK, SUCCEEDED, Run
from dokku_migrations.gate.policy import Gate, Record, ahead_of_code, may_start, migrated_value


@pytest.fixture
def gate(tmp_path):
    return Gate(tmp_path)


def test_an_image_the_plugin_never_saw_may_start():
    assert may_start(None)


@pytest.mark.parametrize("status", [gates.MIGRATED, gates.NOTHING_TO_RUN, gates.DISABLED])
def test_an_image_whose_migrations_ran_or_had_nothing_to_run_may_start(status):
    assert may_start(Record(status))


@pytest.mark.parametrize("status", [gates.PENDING, gates.FAILED, gates.ROLLED_BACK])
def test_a_pending_failed_or_rolled_back_image_may_not_start(status):
    assert not may_start(Record(status))


@pytest.mark.parametrize("status", [gates.PENDING, gates.FAILED, gates.ROLLED_BACK])
def test_an_image_that_went_live_may_always_start_again(status):
    assert may_start(Record(status, live=True))


def test_marking_an_image_keeps_whether_it_went_live(gate):
    gate.mark_live("web", "sha256:a")
    gate.mark("web", "sha256:a", gates.FAILED)
    assert (gate.record("web", "sha256:a").status, gate.record("web", "sha256:a").live) == (gates.FAILED, True)


def test_an_image_seen_live_without_a_run_has_an_unknown_status(gate):
    gate.mark_live("web", "sha256:a")
    assert (gate.record("web", "sha256:a").status, gate.record("web", "sha256:a").live) == (gates.UNKNOWN, True)
    assert migrated_value(gate.record("web", "sha256:a")) == "unknown"


def test_records_of_the_first_version_are_read(gate, tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "images.json").write_text(json.dumps({"sha256:a": "failed"}))
    assert gate.record("web", "sha256:a") == Record(gates.FAILED)


def test_only_the_newest_images_are_remembered(gate):
    for number in range(gates.REMEMBERED + 5):
        gate.mark("web", f"sha256:{number}", gates.MIGRATED)
    assert gate.record("web", "sha256:0") is None
    assert gate.record("web", f"sha256:{gates.REMEMBERED + 4}") == Record(gates.MIGRATED)


@pytest.mark.parametrize("status,shown", [(gates.MIGRATED, "true"), (gates.NOTHING_TO_RUN, "true"),
                                          (gates.FAILED, "false"), (gates.PENDING, "pending"),
                                          (gates.ROLLED_BACK, "false")])
def test_the_report_says_whether_the_latest_image_was_migrated(status, shown):
    assert migrated_value(Record(status)) == shown


# --- ahead_of_code ----------------------------------------------------------------------------
def run(run_id, image, status=SUCCEEDED, trigger="pre-release-builder", released="", changed=None):
    return Run(id=run_id, app="web", trigger=trigger, started_at=time.time(), status=status, image_id=image,
               released_image_id=released, schema_changed=changed)


def test_a_migrated_image_that_never_went_live_puts_the_schema_ahead(gate):
    newest = run(2, "sha256:new")
    assert ahead_of_code(gate, "web", [newest, run(1, "sha256:old")], serving=["sha256:old"]) is newest


def test_a_migrated_image_that_is_serving_does_not(gate):
    assert ahead_of_code(gate, "web", [run(2, "sha256:pre", released="sha256:new")], serving=["sha256:new"]) is None


def test_a_migrated_image_that_went_live_once_does_not(gate):
    gate.mark_live("web", "sha256:new")
    assert ahead_of_code(gate, "web", [run(2, "sha256:new")], serving=[]) is None


def test_failed_and_skipped_runs_do_not_count(gate):
    ahead_run = run(1, "sha256:new")
    runs = [run(3, "sha256:x", status="failed"), run(2, "sha256:y", status="skipped"), ahead_run]
    assert ahead_of_code(gate, "web", runs, serving=["sha256:old"]) is ahead_run


def test_a_rollback_after_it_settles_the_schema(gate):
    runs = [run(2, "sha256:new", trigger=ROLLBACK), run(1, "sha256:new")]
    assert ahead_of_code(gate, "web", runs, serving=["sha256:old"]) is None


def test_a_newer_image_that_went_live_since_settles_it(gate):
    gate.mark_live("web", "sha256:newer")
    runs = [run(3, "sha256:newer", status="skipped"), run(2, "sha256:new"), run(1, "sha256:old")]
    assert ahead_of_code(gate, "web", runs, serving=["sha256:newer"]) is None


def test_re_releasing_the_old_serving_image_leaves_it_ahead(gate):
    gate.mark_live("web", "sha256:old")
    ahead_run = run(2, "sha256:new")
    runs = [run(3, "sha256:old"), ahead_run, run(1, "sha256:old")]
    assert ahead_of_code(gate, "web", runs, serving=["sha256:old"]) is ahead_run


def test_a_run_seen_to_change_nothing_is_never_ahead(gate):
    gate.mark_live("web", "sha256:old")
    runs = [run(2, "sha256:code-only", changed=False), run(1, "sha256:old", changed=True)]
    assert ahead_of_code(gate, "web", runs, serving=["sha256:old"]) is None


def test_behind_a_code_only_run_the_run_that_changed_the_schema_is_still_ahead(gate):
    gate.mark_live("web", "sha256:old")
    migrated = run(2, "sha256:new", changed=True)
    runs = [run(3, "sha256:fix", changed=False), migrated, run(1, "sha256:old", changed=True)]
    assert ahead_of_code(gate, "web", runs, serving=["sha256:old"]) is migrated


def test_a_run_that_was_not_observed_counts_as_ahead_as_before(gate):
    unseen = run(2, "sha256:new", changed=None)
    assert ahead_of_code(gate, "web", [unseen, run(1, "sha256:old")], serving=["sha256:old"]) is unseen
