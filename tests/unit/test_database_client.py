"""The database client's session: questions sent without waiting, answers read in order, and a poll
that never holds up its caller longer than it was given."""

import socket
import struct
import time

import pytest

from dokku_migrations.database.client import Session, Unobservable
from dokku_migrations.docker.engine import Hijacked

MARKER = "dm-0123456789abcdef"


def frame(text: str) -> bytes:
    """Docker's multiplexed stream: stdout (1), three zero bytes, the length, the payload."""
    payload = text.encode()
    return struct.pack(">BxxxL", 1, len(payload)) + payload


@pytest.fixture
def client():
    """(the session, the client's end of its stdin/stdout)."""
    ours, theirs = socket.socketpair()
    session = Session(None, "cid", Hijacked(ours, b""), MARKER)  # type: ignore[arg-type]
    yield session, theirs
    ours.close()
    theirs.close()


def answer(text: str, code: int = 0) -> bytes:
    return frame(f"{text}@@{MARKER} {code}\n")


def test_a_poll_with_no_answer_yet_returns_at_once(client):
    session, _ = client
    session.send("SELECT 1")
    began = time.monotonic()
    assert session.poll(0.01, lambda: None) is None
    assert time.monotonic() - began < 0.2 and session.busy


def test_the_answer_is_read_once_it_comes(client):
    session, peer = client
    session.send("SELECT 1")
    assert peer.recv(100) == b"SELECT 1\n"
    peer.sendall(answer("1\n"))
    assert session.poll(1, lambda: None) == (0, "1\n") and not session.busy


def test_an_answer_split_across_frames_is_put_together(client):
    session, peer = client
    session.send("SELECT 1")
    peer.sendall(frame("row one\nrow") + frame(f" two\n@@{MARKER}") + frame(" 3\n"))
    assert session.poll(1, lambda: None) == (3, "row one\nrow two\n")


def test_the_answer_to_an_earlier_question_is_dropped_for_the_latest(client):
    session, peer = client
    session.send("SELECT 'old'")
    session.send("SELECT 'new'")
    peer.sendall(answer("old\n") + answer("new\n"))
    assert session.poll(1, lambda: None) == (0, "new\n")


def test_a_question_asked_while_an_answer_is_owed_gets_its_own_answer(client):
    session, peer = client
    session.send("SELECT pg_stat_activity")
    assert session.poll(0.01, lambda: None) is None
    peer.sendall(answer("activity\n"))
    peer.sendall(answer("fingerprint\n"))
    assert session.ask("SELECT fingerprint", 1, lambda: None) == (0, "fingerprint\n")


def test_a_client_that_exits_is_unobservable(client):
    session, peer = client
    session.send("SELECT 1")
    peer.close()
    with pytest.raises(Unobservable, match="exited"):
        session.poll(1, lambda: None)


def test_ask_gives_up_after_its_seconds(client):
    session, _ = client
    with pytest.raises(Unobservable, match="did not answer in time"):
        session.ask("SELECT pg_sleep(60)", 0.2, lambda: None)
