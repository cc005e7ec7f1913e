"""Which images may go live: the gate's records and its one rule, and when the schema is ahead."""

import json
import time

import pytest

from dokku_migrations.docker.image import ImageInfo
from dokku_migrations.gate import policy as gates
from dokku_migrations.gate.history import ROLLBACK, SUCCEEDED, Run
from dokku_migrations.gate.policy import Gate, Record, ahead_of_code, may_start, migrated_value


@pytest.fixture
def gate(tmp_path):
    return Gate(tmp_path)


def test_an_image_without_a_record_is_not_admitted_by_the_record_rule():
    assert not may_start(None)


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
    assert gate.record("web", "sha256:a") == Record(gates.FAILED, live=True)


def test_an_image_seen_live_without_a_run_has_an_unknown_status(gate):
    gate.mark_live("web", "sha256:a")
    assert gate.record("web", "sha256:a") == Record(gates.UNKNOWN, live=True)
    assert migrated_value(gate.record("web", "sha256:a")) == "unknown"


def test_records_of_the_first_version_are_read(gate, tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "images.json").write_text(json.dumps({"sha256:a": "failed"}))
    assert gate.record("web", "sha256:a") == Record(gates.FAILED)


def test_only_the_newest_hundred_images_are_remembered(gate):
    for number in range(105):
        gate.mark("web", f"sha256:{number}", gates.MIGRATED)
    assert [gate.record("web", f"sha256:{number}") for number in (0, 4)] == [None, None]
    assert [gate.record("web", f"sha256:{number}") for number in (5, 104)] == [Record(gates.MIGRATED)] * 2


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


# --- refusal: deny by default ---------------------------------------------------------------------
class Engine:
    """The engine as the gate asks it: images by id, and the ids of the app's deploy containers."""

    def __init__(self, images=(), deployed=()):
        self.images = {image.id: image for image in images}
        self.deployed = list(deployed)

    def inspect_image(self, ref):
        return self.images.get(ref)

    def deployed_image_ids(self, app, stopped=False):
        return self.deployed if stopped else []


def image(image_id, parent="", layers=()):
    return ImageInfo(ref=image_id, id=image_id, entrypoint=[], labels={}, env=[], repo_tags=[], parent=parent,
                     layers=tuple(layers))


def test_an_image_that_never_reached_the_plugin_is_refused(gate):
    assert gates.refusal(gate, Engine(), "web", "sha256:new") == gates.UNSEEN


def test_an_image_that_was_here_at_the_first_install_is_admitted(gate, tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / gates.PREDATING).write_text(json.dumps(["sha256:old"]))
    assert gates.refusal(gate, Engine(), "web", "sha256:old") == ""


def test_an_unreadable_list_of_predating_images_admits_nothing(gate, tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / gates.PREDATING).write_text('["sha256:old"')
    assert gates.refusal(gate, Engine(), "web", "sha256:old") == gates.UNSEEN


def test_an_image_dokku_deployed_containers_of_served_and_is_admitted_from_then_on(gate):
    assert gates.refusal(gate, Engine(deployed=["sha256:old"]), "web", "sha256:old") == ""
    assert gate.record("web", "sha256:old") == Record(gates.UNKNOWN, live=True)


@pytest.mark.parametrize("status", [gates.PENDING, gates.FAILED, gates.ROLLED_BACK])
def test_a_recorded_image_is_refused_with_its_status(gate, status):
    gate.mark("web", "sha256:new", status)
    assert gates.refusal(gate, Engine(deployed=["sha256:new"]), "web", "sha256:new") == status


def test_a_release_that_died_before_recording_its_image_leaves_it_pending(gate, tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / gates.RELEASE_STARTED).write_text("dokku/web:latest\n")
    engine = Engine([image("sha256:new")._replace(ref="dokku/web:latest")])
    engine.images["dokku/web:latest"] = engine.images["sha256:new"]
    assert gates.refusal(gate, engine, "web", "sha256:new") == gates.PENDING


# --- derives_from: what a release image was built on ------------------------------------------------
def test_an_image_built_by_the_classic_builder_derives_from_its_parent_chain():
    base, step = image("sha256:a", layers=["l1"]), image("sha256:s", parent="sha256:a", layers=["l1", "l2"])
    release = image("sha256:r", parent="sha256:s", layers=["l1", "l2"])
    assert gates.derives_from(Engine([base, step]), release, base)


def test_a_parent_chain_that_passes_beside_the_image_does_not_derive_from_it():
    root, migrated = image("sha256:root", layers=["l1"]), image("sha256:a", parent="sha256:root", layers=["l1", "v1"])
    pushed = image("sha256:b", parent="sha256:root", layers=["l1", "v2"])
    release = image("sha256:r", parent="sha256:b", layers=["l1", "v2"])
    assert not gates.derives_from(Engine([root, migrated, pushed]), release, migrated)


def test_without_a_parent_an_image_whose_layers_extend_the_base_derives_from_it():
    base = image("sha256:a", layers=["l1", "l2"])
    assert gates.derives_from(Engine([base]), image("sha256:r", layers=["l1", "l2"]), base)
    assert gates.derives_from(Engine([base]), image("sha256:r", layers=["l1", "l2", "env"]), base)


def test_without_a_parent_an_image_on_other_layers_does_not_derive_from_it():
    base = image("sha256:a", layers=["l1", "v1"])
    assert not gates.derives_from(Engine([base]), image("sha256:r", layers=["l1", "v2"]), base)
    assert not gates.derives_from(Engine([base]), image("sha256:r", layers=["l1"]), base)
