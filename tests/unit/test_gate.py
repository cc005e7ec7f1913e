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
    assert (gate.record("web", "sha256:a").status, gate.record("web", "sha256:a").live) == (gates.FAILED, True)


def test_an_image_seen_live_without_a_run_has_an_unknown_status(gate):
    gate.mark_live("web", "sha256:a")
    assert (gate.record("web", "sha256:a").status, gate.record("web", "sha256:a").live) == (gates.UNKNOWN, True)
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
    assert gate.record("web", "sha256:old")[:2] == (gates.UNKNOWN, True)


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


# --- the file fails closed --------------------------------------------------------------------------
@pytest.mark.parametrize("content", [b'{"sha256:a": {"status": "fai', b"", b"[]", b'{"sha256:a": {"live": true}}',
                                     b'{"sha256:a": {"status": "failed", "live": "yes"}}', b"\xff\xfe{}"],
                         ids=["truncated", "empty", "not-an-object", "no-status", "bad-live", "not-utf8"])
def test_a_gate_file_that_cannot_be_understood_is_refused_naming_it(gate, tmp_path, content):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "images.json").write_bytes(content)

    with pytest.raises(gates.Unreadable) as error:
        gate.record("web", "sha256:a")

    assert f"The gate file of web, {tmp_path / 'web' / 'images.json'}, cannot be read" in error.value.message


def test_what_could_not_be_read_is_never_written_over(gate, tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "images.json").write_bytes(b'{"sha256:a": {"status": "failed"')

    for write in (lambda: gate.mark("web", "sha256:b", gates.PENDING), lambda: gate.went_live("web", ["sha256:b"])):
        with pytest.raises(gates.Unreadable):
            write()

    assert (tmp_path / "web" / "images.json").read_bytes() == b'{"sha256:a": {"status": "failed"'


def test_no_file_is_no_records(gate):
    assert gate.records("web") == {}


# --- what went live last ------------------------------------------------------------------------------
def test_the_image_serving_newest_is_the_last_that_went_live(gate):
    gate.went_live("web", ["sha256:a"])
    gate.went_live("web", ["sha256:b", "sha256:a"])  # b's containers are the newest

    assert gate.last_live("web") == ["sha256:b", "sha256:a"]


def test_an_older_image_deployed_again_becomes_the_last_that_went_live(gate):
    gate.went_live("web", ["sha256:a"])
    gate.went_live("web", ["sha256:b"])
    gate.mark("web", "sha256:b", gates.MIGRATED)  # marking moves a record, not what went live last

    gate.went_live("web", ["sha256:a"])

    assert gate.last_live("web")[0] == "sha256:a"


def test_records_from_before_the_time_was_kept_count_in_their_order(gate, tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "images.json").write_text(json.dumps({
        "sha256:a": {"status": "migrated", "live": True}, "sha256:b": {"status": "migrated", "live": True},
        "sha256:c": {"status": "failed", "live": False}}))

    assert gate.last_live("web") == ["sha256:b", "sha256:a"]


def test_a_restart_of_what_already_went_live_last_writes_nothing(gate, tmp_path):
    gate.went_live("web", ["sha256:a"])
    written = (tmp_path / "web" / "images.json").stat().st_mtime_ns

    gate.went_live("web", ["sha256:a"])

    assert (tmp_path / "web" / "images.json").stat().st_mtime_ns == written


class Tags:
    """What close() asks of Docker: images by reference, tags, the app's deploy containers."""

    def __init__(self, images, running=(), stopped=()):
        self.images = dict(images)  # ref or id -> id
        self.running, self.stopped = list(running), list(stopped)
        self.tags = []

    def inspect_image(self, ref):
        image_id = self.images.get(ref)
        return None if image_id is None else type("Info", (), {"id": image_id})()

    def tag(self, source, target):
        self.tags.append((source, target))
        self.images[target] = self.images.get(source, source)

    def deployed_image_ids(self, app, stopped=False):
        return self.running + (self.stopped if stopped else [])


def test_close_points_latest_at_the_serving_image_first(gate):
    gate.went_live("web", ["sha256:old"])
    engine = Tags({"dokku/web:latest": "sha256:new", "sha256:old": "sha256:old"}, running=["sha256:serving"])

    note = gates.close(gate, engine, "web", "dokku/web", "sha256:new")

    assert engine.images["dokku/web:latest"] == "sha256:serving"
    assert "points to the running image again" in note
    assert gate.record("web", "sha256:new").status == gates.FAILED


def test_close_of_a_stopped_app_points_latest_at_the_image_that_went_live_last(gate):
    gate.went_live("web", ["sha256:live"])
    engine = Tags({"dokku/web:latest": "sha256:rereleased", "sha256:live": "sha256:live"},
                    stopped=["sha256:older"])

    note = gates.close(gate, engine, "web", "dokku/web", "sha256:rereleased")

    assert engine.images["dokku/web:latest"] == "sha256:live"
    assert "sha256:live, the image that went live last, again" in note


def test_close_of_a_stopped_app_without_records_takes_its_stopped_deploy_containers(gate):
    engine = Tags({"dokku/web:latest": "sha256:rereleased"}, stopped=["sha256:rereleased", "sha256:before"])

    gates.close(gate, engine, "web", "dokku/web", "sha256:rereleased")

    assert engine.images["dokku/web:latest"] == "sha256:before"


def test_close_skips_a_recorded_image_docker_no_longer_has(gate):
    gate.went_live("web", ["sha256:pruned"])
    engine = Tags({"dokku/web:latest": "sha256:new"})

    note = gates.close(gate, engine, "web", "dokku/web", "sha256:new")

    assert engine.images["dokku/web:latest"] == "sha256:new"
    assert note.startswith("web has never run")


class Broken(Tags):
    def tag(self, source, target):
        raise gates.UserError("Docker is not reachable while tagging")


def test_close_writes_the_record_only_after_latest_points_back(gate):
    """If pointing back fails, the record stays as it was (pending: refused), never marked first."""
    gate.mark("web", "sha256:new", gates.PENDING)
    engine = Broken({"dokku/web:latest": "sha256:new"}, running=["sha256:serving"])

    with pytest.raises(gates.UserError):
        gates.close(gate, engine, "web", "dokku/web", "sha256:new", gates.FAILED)

    assert gate.record("web", "sha256:new").status == gates.PENDING
