"""Which never-started probe containers are orphaned, and which runs settle their image's fate."""

import os

import pytest

from dokku_migrations.docker.client import ProbeContainer
from dokku_migrations.gate.history import ROLLBACK, Run
from dokku_migrations.gate.leftovers import UNLABELLED_PROBE_AGE, alive, orphaned

NOW = 1_800_000_000.0


def test_a_probe_whose_process_is_gone_is_orphaned():
    assert orphaned(ProbeContainer("c1", pid=4242, created=int(NOW)), NOW, is_alive=lambda pid: False)


def test_a_probe_whose_process_runs_is_left_alone_however_old():
    assert not orphaned(ProbeContainer("c1", pid=4242, created=0), NOW, is_alive=lambda pid: True)


@pytest.mark.parametrize("age,left", [(UNLABELLED_PROBE_AGE - 1, False), (UNLABELLED_PROBE_AGE + 1, True)])
def test_a_probe_without_a_process_id_is_orphaned_once_older_than_any_read_takes(age, left):
    assert orphaned(ProbeContainer("c1", pid=0, created=int(NOW - age)), NOW, is_alive=lambda pid: True) == left


def test_this_process_and_other_users_processes_are_alive():
    assert alive(os.getpid())
    assert alive(1)  # init: another user's process for the tests' user, or root's own


def test_a_process_id_nobody_has_is_not_alive():
    assert not alive(2 ** 22 + 1)  # above the kernel's largest pid_max


@pytest.mark.parametrize("trigger,settles", [("pre-release-builder", True), ("pre-deploy", True), (ROLLBACK, True),
                                             ("migrations:run", False)])
def test_deploys_and_rollbacks_settle_their_image(trigger, settles):
    assert Run(id=1, app="web", trigger=trigger, started_at=NOW).settles_gate == settles
