"""The lock timeout: what the migration container gets, how a run that gave up on a lock is recognised,
and when it is tried again."""

import pytest

from dokku_migrations.database.locktimeout import (
    backoff,
    gave_up,
    gave_up_on_lock,
    merged,
    option,
    refused_by_pooler,
    retry_delay,
    with_lock_timeout,
    without_lock_timeout,
)

# --- what the migration container gets ----------------------------------------------------------


@pytest.mark.parametrize("seconds, expected", [(5, "-c lock_timeout=5s"), (5.0, "-c lock_timeout=5s"),
                                               (0.5, "-c lock_timeout=500ms"), (1.25, "-c lock_timeout=1250ms"),
                                               (3600, "-c lock_timeout=3600s")])
def test_the_option_is_in_seconds_or_in_milliseconds_for_a_fraction(seconds, expected):
    assert option(seconds) == expected


def test_the_lock_timeout_alone_when_the_app_has_no_pgoptions():
    assert merged(None, 5) == "-c lock_timeout=5s"
    assert merged("  ", 5) == "-c lock_timeout=5s"


def test_the_apps_own_pgoptions_come_first_so_its_settings_stay_and_the_lock_timeout_wins():
    assert merged("-c search_path=shop -c lock_timeout=1min", 5) == \
        "-c search_path=shop -c lock_timeout=1min -c lock_timeout=5s"


def test_the_container_gets_pgoptions_as_a_key_on_argv_and_the_value_beside_the_config():
    args, values = with_lock_timeout(["--env=DATABASE_URL", "--link=db:db"], {"DATABASE_URL": "postgres://…"}, 5)

    assert args == ["--env=DATABASE_URL", "--link=db:db", "--env=PGOPTIONS"]
    assert values == {"DATABASE_URL": "postgres://…", "PGOPTIONS": "-c lock_timeout=5s"}
    assert not any("lock_timeout" in arg for arg in args)


def test_an_app_that_sets_pgoptions_keeps_its_one_flag_and_gets_the_merged_value():
    args, values = with_lock_timeout(["--env=PGOPTIONS"], {"PGOPTIONS": "-c work_mem=64MB"}, 2)

    assert args == ["--env=PGOPTIONS"]
    assert values == {"PGOPTIONS": "-c work_mem=64MB -c lock_timeout=2s"}


def test_a_lock_timeout_of_zero_leaves_the_container_as_it_was():
    args, values = ["--env=PGOPTIONS"], {"PGOPTIONS": "-c work_mem=64MB"}

    assert with_lock_timeout(args, values, 0) == (args, values)


def test_the_config_mapping_given_is_never_changed():
    config = {"PGOPTIONS": "-c work_mem=64MB"}

    with_lock_timeout([], config, 5)

    assert config == {"PGOPTIONS": "-c work_mem=64MB"}


def test_without_the_lock_timeout_the_apps_own_pgoptions_are_back_as_they_were():
    args, env = with_lock_timeout(["--env=PGOPTIONS"], {"PGOPTIONS": " -c work_mem=64MB", "HOME": "/x"}, 5)

    assert without_lock_timeout(args, env, 5) == (["--env=PGOPTIONS"], {"PGOPTIONS": "-c work_mem=64MB", "HOME": "/x"})


def test_without_the_lock_timeout_an_app_without_pgoptions_gets_none():
    args, env = with_lock_timeout(["--env=A"], {"A": "1"}, 0.5)

    assert without_lock_timeout(args, env, 0.5) == (["--env=A"], {"A": "1"})


# --- a run that gave up waiting for a lock --------------------------------------------------------

@pytest.mark.parametrize("tail", [
    # psql, and every tool that prints the server's message (Knex, Django's OperationalError, lib/pq)
    "ERROR:  canceling statement due to lock timeout\n",
    # node-postgres' error object, as node-pg-migrate and a script's console.error(error) print it
    "error: canceling statement due to lock timeout\n    at ... {\n  severity: 'ERROR',\n  code: '55P03',\n",
    # Rails
    "StandardError: An error has occurred, this and all later migrations canceled:\n\n"
    "PG::LockNotAvailable: ERROR:  canceling statement due to lock timeout\n",
    # psycopg 2 and 3 under Django or Alembic
    "psycopg2.errors.LockNotAvailable: canceling statement due to lock timeout\n",
    "sqlalchemy.exc.OperationalError: (psycopg.errors.LockNotAvailable) canceling statement due to lock timeout",
    # PHP's PDO
    "SQLSTATE[55P03]: Lock not available: 7 ERROR:  canceling statement due to lock timeout",
    # a NOWAIT lock (the same SQLSTATE) through a tool that prints the code only
    "could not obtain lock on relation \"orders\" (SQLSTATE 55P03)",
    # a server whose lc_messages is German, French or Japanese
    "FEHLER:  storniere Anfrage wegen Zeitüberschreitung einer Sperre",
    "ERREUR:  annulation de la requête à cause du délai écoulé pour l'obtention des verrous",
    "ERROR:  ロックのタイムアウトのためステートメントをキャンセルしています",
    # PL/pgSQL's condition name
    "EXCEPTION WHEN lock_not_available THEN RAISE",
])
def test_a_lock_timeout_is_recognised_whatever_the_tool_and_the_servers_language(tail):
    assert gave_up_on_lock(tail.encode())


@pytest.mark.parametrize("tail", [
    "ERROR:  canceling statement due to statement timeout\n",  # 57014: a slow statement, not a lock
    "ERROR:  deadlock detected\n",  # 40P01
    "Migration table is already locked\n",  # Knex's own lock
    "ERROR:  relation \"notes\" already exists\n",
    "Applying notes.0002_note_title... OK\n",
    "id 55p03abc\n",
])
def test_other_failures_are_not_taken_for_a_lock_timeout(tail):
    assert not gave_up_on_lock(tail.encode())


def test_only_the_end_of_a_long_output_is_searched():
    assert not gave_up_on_lock(b"canceling statement due to lock timeout\n" + b"x" * 70000)
    assert gave_up_on_lock(b"x" * 70000 + b"canceling statement due to lock timeout\n")


def test_output_that_is_not_utf8_is_still_searched():
    assert gave_up_on_lock(b"\xff\xfe ERROR: canceling statement due to lock timeout")


@pytest.mark.parametrize("tail", ["FATAL:  unsupported startup parameter: options",
                                  "ERROR: unsupported startup parameter in options: lock_timeout"])
def test_a_connection_pooler_refusing_the_option_is_recognised(tail):
    assert refused_by_pooler(tail.encode())
    assert not gave_up_on_lock(tail.encode())


# --- when it is tried again ---------------------------------------------------------------------

def test_the_wait_between_attempts_starts_at_the_lock_timeout_and_doubles():
    assert [backoff(failed, 5) for failed in (1, 2, 3)] == [5, 10, 20]


def test_the_wait_is_at_least_a_second_and_at_most_a_minute():
    assert backoff(1, 0.2) == 1
    assert backoff(10, 5) == 60


def test_a_lock_timeout_of_the_projects_own_waits_five_seconds_first():
    assert backoff(1, 0) == 5


def test_a_run_is_tried_again_as_many_times_as_lock_retries_says():
    assert retry_delay(1, 3, 5, None) == 5
    assert retry_delay(3, 3, 5, None) == 20
    assert retry_delay(4, 3, 5, None) is None
    assert retry_delay(1, 0, 5, None) is None


def test_no_retry_when_the_timeout_leaves_no_room_for_the_wait_and_a_full_lock_wait():
    assert retry_delay(1, 3, 5, time_left=10) == 5
    assert retry_delay(1, 3, 5, time_left=9.9) is None


# --- what the person at `git push` reads ------------------------------------------------------------

def test_the_last_line_says_how_often_it_gave_up_why_and_what_to_do():
    message = gave_up("Migration command", "npm run migrate", 4, 5, "shop", 3, False, "dokku migrations:logs shop 7")

    assert message.startswith("Migration command 'npm run migrate' gave up waiting for a lock after 5s on each of "
                              "its 4 attempts (see the output above, again with 'dokku migrations:logs shop 7')")
    assert "pg_stat_activity" in message
    assert message.endswith("then deploy again (or let it try more often: 'dokku migrations:set shop lock-retries 6')")


def test_the_last_line_says_when_the_timeout_cut_the_retries_short():
    message = gave_up("Migration command", "bin/rails db:migrate", 2, 5, "shop", 3, True, "dokku migrations:logs x 7")

    assert "after 5s on each of its 2 attempts, and the timeout leaves no time for another" in message
    assert message.endswith("then deploy again")
