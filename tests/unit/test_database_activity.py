"""What the migration's connections are doing: the question asked, its answer read, said in one line
that holds no literal of any statement."""

import pytest

from dokku_migrations.common.output import duration
from dokku_migrations.database.activity import (
    Activity,
    addresses,
    describe,
    lock_named,
    parse,
    request,
    sees_own_address,
)
from dokku_migrations.database.url import MYSQL, POSTGRES


def hexed(sql: str) -> str:
    return sql.encode().hex()


def row(*fields: object) -> str:
    return "\t".join(str(field) for field in fields)


SELF = row("self", "172.17.0.9")
WAITING = row("connection", 812, "active", "Lock", 29, 29, "relation", "AccessExclusiveLock", "widgets", "", "790",
              hexed("ALTER TABLE widgets ADD COLUMN note text DEFAULT 'hunter2'"))
BLOCKER = row("blocker", 790, "idle in transaction", 72, hexed("UPDATE widgets SET name = 'pw-123' WHERE id = 4242"))


def test_the_connections_are_asked_for_by_the_migrations_addresses():
    sql = request(POSTGRES, ["172.17.0.5", "fd00::5"])
    assert "a.client_addr IN ('172.17.0.5'::inet, 'fd00::5'::inet) AND a.pid <> pg_backend_pid()" in sql
    assert "pg_blocking_pids" in sql and "\n" not in sql


def test_only_a_real_address_reaches_the_sql():
    with pytest.raises(ValueError):
        request(POSTGRES, ["172.17.0.5') OR true --"])


def test_mysql_threads_are_asked_for_by_host_and_port():
    sql = request(MYSQL, ["172.18.0.3"])
    assert "(HOST LIKE '172.18.0.3:%' OR HOST LIKE '::ffff:172.18.0.3:%') AND ID <> CONNECTION_ID()" in sql


def test_a_containers_addresses_come_from_every_network_it_joined():
    inspected = {"NetworkSettings": {"IPAddress": "172.17.0.5", "GlobalIPv6Address": "",
                                     "Networks": {"bridge": {"IPAddress": "172.17.0.5"},
                                                  "backend": {"IPAddress": "10.0.3.4", "GlobalIPv6Address": "fd00::4"},
                                                  "host": {"IPAddress": ""}}}}
    assert addresses(inspected) == ["10.0.3.4", "172.17.0.5", "fd00::4"]


def test_a_container_on_the_hosts_network_has_no_address_of_its_own():
    assert addresses({"NetworkSettings": {"Networks": {"host": {"IPAddress": ""}}}}) == []
    assert addresses({}) == []


def test_a_migration_waiting_for_a_lock_names_the_lock_and_who_holds_it():
    said = describe(parse("\n".join([SELF, WAITING, BLOCKER]), POSTGRES), POSTGRES)
    assert said == ("PostgreSQL pid 812 waiting 29s for AccessExclusiveLock on table widgets, held by pid 790 "
                    "(idle in transaction for 1m 12s after UPDATE widgets SET name = ? WHERE id = ?), "
                    "to run ALTER TABLE widgets ADD COLUMN note text DEFAULT ?")


def test_no_literal_of_any_session_is_said():
    said = describe(parse("\n".join([SELF, WAITING, BLOCKER]), POSTGRES), POSTGRES)
    assert "hunter2" not in said and "pw-123" not in said and "4242" not in said


def test_a_running_statement_is_said_with_how_long_it_has_run():
    answer = row("connection", 812, "active", "Timeout", 31, 31, "", "", "", "", "", hexed("SELECT pg_sleep(60)"))
    assert describe(parse(answer, POSTGRES), POSTGRES) == "PostgreSQL pid 812 running SELECT pg_sleep(?) for 31s"


def test_an_idle_transaction_says_for_how_long_and_after_what():
    answer = row("connection", 812, "idle in transaction", "Client", 45, 40, "", "", "", "", "",
                 hexed("INSERT INTO t VALUES (1)"))
    assert describe(parse(answer, POSTGRES), POSTGRES) == \
        "PostgreSQL pid 812 idle in transaction for 40s after INSERT INTO t VALUES (?)"


def test_an_idle_connection_says_for_how_long():
    answer = row("connection", 812, "idle", "Client", 95, 95, "", "", "", "", "", hexed("COMMIT"))
    assert describe(parse(answer, POSTGRES), POSTGRES) == "PostgreSQL pid 812 idle for 1m 35s"


def test_a_migration_blocked_by_its_own_other_connection_says_so():
    first = row("connection", 812, "active", "Lock", 5, 5, "transactionid", "ShareLock", "", "7310", "813",
                hexed("UPDATE t SET a = 1"))
    second = row("connection", 813, "idle in transaction", "Client", 9, 9, "", "", "", "", "",
                 hexed("UPDATE t SET a = 2"))
    said = describe(parse("\n".join([first, second]), POSTGRES), POSTGRES)
    assert said.startswith("PostgreSQL pid 812 waiting 5s for ShareLock on transaction 7310 (rows it changed), held "
                           "by pid 813 (another of the migration's own connections), to run UPDATE t SET a = ?; "
                           "pid 813 idle in transaction for 9s after UPDATE t SET a = ?")


def test_a_blocker_of_another_role_is_named_by_its_pid_only():
    hidden = row("blocker", 790, "", "", hexed("<insufficient privilege>"))
    said = describe(parse("\n".join([WAITING, hidden]), POSTGRES), POSTGRES)
    assert "held by pid 790, to run ALTER TABLE" in said


def test_no_connection_is_said():
    assert describe(parse(SELF, POSTGRES), POSTGRES) == "PostgreSQL: the migration has no connection open"


def test_a_query_that_breaks_the_row_format_is_dropped_not_shown():
    broken = row("connection", 812, "active", "", 3, 3, "", "", "", "", "", "not hex: s3cret")
    assert describe(parse(broken, POSTGRES), POSTGRES) == "PostgreSQL pid 812 running a statement for 3s"


def test_mysql_threads_say_their_command_state_and_statement_shape():
    answer = "\n".join([row("self", "172.18.0.9:40312"),
                        row("connection", 12, "Query", "Waiting for table metadata lock", 31,
                            hexed("ALTER TABLE widgets ADD COLUMN note varchar(9) DEFAULT 's3cret'")),
                        row("connection", 13, "Sleep", "", 8, "")])
    assert describe(parse(answer, MYSQL), MYSQL) == (
        "MySQL/MariaDB thread 12 query for 31s, Waiting for table metadata lock: ALTER TABLE widgets ADD COLUMN note "
        "varchar(?) DEFAULT ?; thread 13 idle for 8s")


@pytest.mark.parametrize("seen, kind, own", [
    ("172.17.0.9", POSTGRES, True),
    ("172.17.0.1", POSTGRES, False),  # the gateway: a NAT or a proxy hides the containers' addresses
    ("", POSTGRES, False),
    ("172.17.0.9:40312", MYSQL, True),
    ("::ffff:172.17.0.9:40312", MYSQL, True),
    ("10.1.1.1:40312", MYSQL, False),
])
def test_the_database_must_see_the_asking_client_at_its_own_address(seen, kind, own):
    assert sees_own_address(Activity(seen_as=seen), ["172.17.0.9"], kind) is own


@pytest.mark.parametrize("args, said", [
    (("relation", "AccessExclusiveLock", "public.widgets", ""), "AccessExclusiveLock on table public.widgets"),
    (("tuple", "ExclusiveLock", "widgets", ""), "ExclusiveLock on a row of widgets"),
    (("advisory", "ExclusiveLock", "", ""), "advisory ExclusiveLock"),
    (("object", "AccessShareLock", "", ""), "AccessShareLock (object)"),
    (("", "", "", ""), ""),
])
def test_locks_are_named_by_mode_and_what_they_lock(args, said):
    assert lock_named(*args) == said


@pytest.mark.parametrize("seconds, said", [(0, "0s"), (59.9, "59s"), (60, "1m 00s"), (3599, "59m 59s"),
                                           (3660, "1h 01m"), (None, "an unknown time"), (-3, "0s")])
def test_durations_read_at_a_glance(seconds, said):
    assert duration(seconds) == said
