"""The observer asked what the migration is doing: the question sent once at a time, a stale answer
asked again, and why it cannot be told said once — then nothing more is asked."""

from typing import List, Optional, Tuple

from dokku_migrations.database.client import Unobservable
from dokku_migrations.database.observe import Observer
from dokku_migrations.database.url import parse

from .loading import loaded

MIGRATION = {"NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.5"}}}}
CLIENT = {"NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.9"}}}}
RUNNING = "self\t172.17.0.9\nconnection\t812\tactive\t\t31\t31\t\t\t\t\t\t" + b"SELECT 1".hex() + "\n"


class Engine:
    def __init__(self, migration=MIGRATION) -> None:
        self.documents = {"migration": migration, "client": CLIENT}

    def container(self, ref: str):
        return self.documents.get(ref)


class Client:
    """A session whose answers the test hands over one by one."""

    def __init__(self) -> None:
        self.cid = "client"
        self.closed = False
        self.sent: List[str] = []
        self.answers: List[Tuple[int, str]] = []
        self.unanswered = 0
        self.gone = False

    @property
    def busy(self) -> bool:
        return self.unanswered > 0

    def send(self, sql: str) -> None:
        self.sent.append(sql)
        self.unanswered += 1

    def poll(self, seconds, check) -> Optional[Tuple[int, str]]:
        if self.gone:
            raise Unobservable("the database client exited")
        if not self.answers or not self.unanswered:
            return None
        self.unanswered = 0
        return self.answers.pop(0)


def observer(engine=None) -> Tuple[Observer, Client]:
    watching = Observer(engine or Engine(), "shop", parse("postgres://u:pw@db:5432/shop"), "", lambda: None)  # type: ignore
    client = Client()
    watching.session = client  # type: ignore[assignment]
    watching._migration = "migration"
    return watching, client


def test_the_connections_of_the_migrations_address_are_asked_for():
    watching, client = observer()
    watching.ask_activity()
    assert watching.activity() is None
    client.answers.append((0, RUNNING))
    assert watching.activity() == "PostgreSQL pid 812 running SELECT ? for 31s"
    assert len(client.sent) == 1 and "'172.17.0.5'::inet" in client.sent[0]


def test_a_question_is_not_sent_while_the_last_is_unanswered_and_its_late_answer_is_asked_again():
    watching, client = observer()
    watching.ask_activity()
    watching.ask_activity()  # the next line is due: the database has not answered the first question
    assert len(client.sent) == 1
    client.answers.append((0, RUNNING))
    assert watching.activity() is None  # that answer is older than the line: asked again
    assert len(client.sent) == 2
    client.answers.append((0, RUNNING))
    assert watching.activity() == "PostgreSQL pid 812 running SELECT ? for 31s"


def test_a_database_that_does_not_see_containers_at_their_address_is_said_once_then_not_asked_again():
    watching, client = observer()
    watching.ask_activity()
    client.answers.append((0, RUNNING.replace("172.17.0.9", "172.17.0.1")))
    assert "not told apart" in (watching.activity() or "")
    watching.ask_activity()
    assert watching.activity() == "" and len(client.sent) == 1


def test_a_migration_without_an_address_of_its_own_is_said_once():
    watching, client = observer(Engine(migration={"NetworkSettings": {"Networks": {"host": {"IPAddress": ""}}}}))
    watching.ask_activity()
    assert "no address of its own" in (watching.activity() or "")
    watching.ask_activity()
    assert watching.activity() == "" and client.sent == []


def test_a_client_that_went_away_is_said_once():
    watching, client = observer()
    watching.ask_activity()
    client.gone = True
    assert watching.activity() == "could not ask the database what the migration is doing: the database client exited"
    assert watching.activity() == ""


def test_an_error_from_the_database_is_said_once_by_its_last_line():
    watching, client = observer()
    watching.ask_activity()
    client.answers.append((1, "ERROR:  function pg_blocking_pids(integer) does not exist\n"))
    assert watching.activity() == ("the database did not say what the migration is doing: ERROR:  function "
                                   "pg_blocking_pids(integer) does not exist")


def test_an_unobserved_database_says_nothing():
    watching = Observer(Engine(), "shop", parse("redis://cache:6379"), "", lambda: None)  # type: ignore[arg-type]
    watching.ask_activity()
    assert watching.activity() == ""


def test_after_a_lock_timeout_the_next_attempts_container_is_the_one_watched():
    engine = Engine()
    engine.documents["attempt-2"] = {"NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.6"}}}}
    watching, client = observer(engine)
    watching.ask_activity()
    client.answers.append((0, RUNNING))
    watching.activity()

    watching.follow("attempt-2")
    watching.ask_activity()

    assert "'172.17.0.5'::inet" in client.sent[0]
    assert "'172.17.0.6'::inet" in client.sent[1] and "'172.17.0.5'::inet" not in client.sent[1]


def test_a_release_loads_the_database_reading_modules_only_when_there_is_a_database_to_read():
    """Every release makes an Observer; the modules that read a database (and OpenSSL's hashlib) cost
    ~6 ms of imports that an app without a database never uses."""
    assert loaded("import dokku_migrations.entry.triggers, dokku_migrations.run.migrate",
                  ("dokku_migrations.database.activity", "dokku_migrations.database.schema", "hashlib")) == []
