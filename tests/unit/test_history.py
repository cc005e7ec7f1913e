"""Run history: one record and one log per run, private to the dokku user, pruned to the newest N."""

import json
import os
import stat

import pytest

from dokku_migrations.gate.history import FAILED, RUNNING, SKIPPED, SUCCEEDED, History, iso


@pytest.fixture
def history(tmp_path):
    return History(tmp_path / "data" / "migrations")


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def finished_runs(history, app, count, keep=100):
    runs = []
    for _ in range(count):
        run = history.start(app, "pre-deploy")
        history.finish(run, SUCCEEDED, keep, exit_code=0)
        runs.append(run)
    return runs


def test_the_first_run_of_an_app_has_id_1(history):
    assert history.start("web", "pre-deploy").id == 1


def test_run_ids_increase_with_each_run(history):
    assert [run.id for run in finished_runs(history, "web", 3)] == [1, 2, 3]


def test_each_app_counts_its_own_runs(history):
    finished_runs(history, "web", 2)
    assert history.start("api", "pre-deploy").id == 1


def test_a_started_run_is_recorded_as_running_at_once(history):
    run = history.start("web", "migrations:run")
    loaded = history.load("web", run.id)
    assert (loaded.status, loaded.trigger, loaded.app) == (RUNNING, "migrations:run", "web")


def test_ids_keep_increasing_after_older_runs_are_pruned(history):
    finished_runs(history, "web", 5, keep=2)
    assert history.start("web", "pre-deploy").id == 6


def test_an_id_taken_by_a_file_appearing_meanwhile_is_skipped(history):
    finished_runs(history, "web", 1)
    (history.runs_dir("web") / "2.json").write_text("")
    assert history.start("web", "pre-deploy").id == 3


def test_a_finished_run_records_its_outcome(history):
    run = history.start("web", "pre-deploy")
    run.command = "npm run migrate"
    history.finish(run, FAILED, 20, exit_code=3, message="Migration command failed")
    loaded = history.load("web", run.id)
    assert (loaded.status, loaded.exit_code, loaded.message, loaded.command) == \
        (FAILED, 3, "Migration command failed", "npm run migrate")
    assert loaded.finished and loaded.duration is not None and loaded.duration >= 0


def test_finishing_a_run_prunes_to_the_n_newest(history):
    finished_runs(history, "web", 5, keep=3)
    assert history.ids("web") == [3, 4, 5]


def test_pruning_keeps_the_n_newest_records_and_their_logs(history):
    for run in finished_runs(history, "web", 4):
        with history.open_log(run) as log:
            log.write(b"output %d\n" % run.id)
    history.prune("web", 2)
    assert sorted(p.name for p in history.runs_dir("web").iterdir()) == ["3.json", "3.log", "4.json", "4.log"]


def test_pruning_with_fewer_runs_than_kept_removes_nothing(history):
    finished_runs(history, "web", 2)
    history.prune("web", 20)
    assert history.ids("web") == [1, 2]


def test_record_and_log_files_are_readable_by_the_dokku_user_only(history):
    run = history.start("web", "pre-deploy")
    with history.open_log(run) as log:
        log.write(b"DATABASE_URL=postgres://secret\n")
    history.finish(run, SUCCEEDED, 20, exit_code=0)
    assert mode(history.runs_dir("web") / "1.json") == 0o600
    assert mode(history.log_path("web", 1)) == 0o600


def test_the_app_and_runs_directories_are_closed_to_everyone_else(history):
    history.start("web", "pre-deploy")
    assert mode(history.root / "web") == 0o700
    assert mode(history.runs_dir("web")) == 0o700


def test_an_app_directory_made_open_is_closed_again_by_the_next_run(history):
    (history.root / "web").mkdir(parents=True)
    os.chmod(history.root / "web", 0o755)
    history.start("web", "pre-deploy")
    assert mode(history.root / "web") == 0o700


def test_the_log_holds_exactly_the_bytes_written(history):
    run = history.start("web", "pre-deploy")
    with history.open_log(run) as log:
        log.write("Migración ✓\n".encode())
    assert history.log_path("web", run.id).read_bytes() == "Migración ✓\n".encode()


def test_runs_are_listed_newest_first(history):
    finished_runs(history, "web", 3)
    assert [run.id for run in history.runs("web")] == [3, 2, 1]


def test_runs_can_be_limited_to_the_newest_few(history):
    finished_runs(history, "web", 3)
    assert [run.id for run in history.runs("web", limit=2)] == [3, 2]


def test_an_app_without_runs_has_no_history(history):
    assert (history.ids("web"), list(history.runs("web")), history.latest_id("web")) == ([], [], 0)


def test_the_latest_id_is_the_newest_run(history):
    finished_runs(history, "web", 3)
    assert history.latest_id("web") == 3


def test_files_that_are_not_run_records_are_ignored(history):
    finished_runs(history, "web", 1)
    (history.runs_dir("web") / "notes.json").write_text("{}")
    (history.runs_dir("web") / ".run.tmp123").write_text("{}")
    assert history.ids("web") == [1]


def test_a_missing_run_loads_as_none(history):
    assert history.load("web", 9) is None


@pytest.mark.parametrize("content", ["", "{broken", "[1, 2]"], ids=["empty", "broken", "not-an-object"])
def test_an_unreadable_record_loads_as_none(history, content):
    history.runs_dir("web").mkdir(parents=True)
    (history.runs_dir("web") / "4.json").write_text(content)
    assert history.load("web", 4) is None


def test_a_record_with_fields_from_a_newer_version_still_loads(history):
    run = history.start("web", "pre-deploy")
    data = json.loads((history.runs_dir("web") / "1.json").read_text())
    data["added_later"] = True
    (history.runs_dir("web") / "1.json").write_text(json.dumps(data))
    assert history.load("web", run.id).id == 1


def test_copying_an_app_rewrites_the_app_name_in_its_records(history):
    finished_runs(history, "old", 2)
    history.copy("old", "new")
    assert [run.app for run in history.runs("new")] == ["new", "new"]


def test_copying_an_app_copies_its_logs(history):
    run = history.start("old", "pre-deploy")
    with history.open_log(run) as log:
        log.write(b"Batch 1 run\n")
    history.copy("old", "new")
    assert history.log_path("new", run.id).read_bytes() == b"Batch 1 run\n"


def test_copying_an_app_leaves_the_original_records_untouched(history):
    finished_runs(history, "old", 1)
    history.copy("old", "new")
    assert history.load("old", 1).app == "old"


def test_copied_records_stay_private(history):
    finished_runs(history, "old", 1)
    history.copy("old", "new")
    assert mode(history.runs_dir("new") / "1.json") == 0o600
    assert mode(history.root / "new") == 0o700


def test_copying_an_app_without_history_creates_nothing(history):
    history.copy("old", "new")
    assert not (history.root / "new").exists()


def test_deleting_an_app_removes_its_whole_history(history):
    finished_runs(history, "web", 2)
    finished_runs(history, "api", 1)
    history.delete("web")
    assert (history.ids("web"), history.ids("api"), (history.root / "web").exists()) == ([], [1], False)


def test_deleting_an_app_without_history_is_fine(history):
    history.delete("web")


def test_skipped_runs_are_recorded_too(history):
    run = history.start("web", "pre-deploy")
    history.finish(run, SKIPPED, 20, message="no migration command found")
    assert history.load("web", 1).status == SKIPPED


def test_times_are_shown_in_utc_iso_8601():
    assert iso(0) == "1970-01-01T00:00:00Z"
