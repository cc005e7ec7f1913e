"""Signals become Interrupted once; a second one is heard only where it means "kill it now"
(a grace period), and never cuts the cleanup after it short. Each case runs in a fresh
interpreter, as the plugin does, so the test runner's own handlers are left alone."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRELUDE = """
import os, signal
from dokku_migrations.common import interrupts
from dokku_migrations.common.errors import Interrupted
def send():
    os.kill(os.getpid(), signal.SIGINT)
def heard(block):
    try:
        block()
    except Interrupted as error:
        return error.signame
    return "nothing"
"""


def run(body: str) -> str:
    result = subprocess.run([sys.executable, "-c", PRELUDE + body], cwd=ROOT, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_after_a_first_signal_later_ones_are_ignored():
    assert run("interrupts.install(); print(heard(send), heard(send))") == "SIGINT nothing"


def test_a_second_signal_during_a_grace_period_is_heard():
    body = """
interrupts.install()
heard(send)
def in_grace():
    with interrupts.heard_again():
        send()
print(heard(in_grace))
"""
    assert run(body) == "SIGINT"


def test_after_the_grace_period_signals_are_ignored_again():
    body = """
interrupts.install()
heard(send)
with interrupts.heard_again():
    pass
print(heard(send))
"""
    assert run(body) == "nothing"


def test_a_first_signal_heard_in_a_grace_period_leaves_the_rest_ignored():
    body = """
interrupts.install()
def in_grace():
    with interrupts.heard_again():
        send()
print(heard(in_grace), heard(send))
"""
    assert run(body) == "SIGINT nothing"


def test_a_process_without_the_handlers_hears_nothing_new():
    body = """
signal.signal(signal.SIGINT, signal.SIG_IGN)
def in_grace():
    with interrupts.heard_again():
        send()
print(heard(in_grace))
"""
    assert run(body) == "nothing"
