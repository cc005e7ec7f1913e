"""Locks: one migration run per app at a time, never during a deploy; both refuse at once, never wait."""

import fcntl
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dokku_migrations.common.errors import UserError
from dokku_migrations.common.lock import deploy_lock, held_by_another, run_lock


def held_elsewhere(path, pid_text=None):
    """Takes the lock through a separate open file, as another process would; returns the fd."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if pid_text is not None:
        os.ftruncate(handle, 0)
        os.write(handle, pid_text.encode())
    return handle


# --- run_lock ---------------------------------------------------------------------------------

def test_a_free_lock_lets_the_run_go_ahead(tmp_path):
    ran = []
    with run_lock(tmp_path / "web" / ".lock", "web"):
        ran.append(True)
    assert ran == [True]


def test_the_holder_writes_its_process_id_into_the_lock_file(tmp_path):
    path = tmp_path / "web" / ".lock"
    with run_lock(path, "web"):
        assert path.read_text() == str(os.getpid())


def test_the_lock_file_is_private_to_the_dokku_user(tmp_path):
    path = tmp_path / "web" / ".lock"
    with run_lock(path, "web"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_second_run_of_the_same_app_is_refused_at_once(tmp_path):
    path = tmp_path / "web" / ".lock"
    with run_lock(path, "web"):
        with pytest.raises(UserError, match="^Migrations for web are already running"):
            with run_lock(path, "web"):
                pytest.fail("the second holder must not run")


def test_the_refusal_names_the_holding_process_and_what_to_do(tmp_path):
    path = tmp_path / "web" / ".lock"
    with run_lock(path, "web"):
        with pytest.raises(UserError) as error:
            with run_lock(path, "web"):
                pass
    assert error.value.message == (f"Migrations for web are already running (process {os.getpid()}): wait for "
                                   "them to finish, then try again (see 'dokku migrations:history web')")


def test_a_lock_held_through_another_open_file_refuses_the_run(tmp_path):
    path = tmp_path / "web" / ".lock"
    handle = held_elsewhere(path, "4242")
    try:
        with pytest.raises(UserError, match=r"already running \(process 4242\)"):
            with run_lock(path, "web"):
                pass
    finally:
        os.close(handle)


def test_a_refusal_leaves_the_holders_process_id_in_place(tmp_path):
    path = tmp_path / "web" / ".lock"
    handle = held_elsewhere(path, "4242")
    try:
        with pytest.raises(UserError):
            with run_lock(path, "web"):
                pass
        assert path.read_text() == "4242"
    finally:
        os.close(handle)


def test_a_holder_without_a_readable_pid_is_not_named(tmp_path):
    path = tmp_path / "web" / ".lock"
    handle = held_elsewhere(path, "")
    try:
        with pytest.raises(UserError, match="^Migrations for web are already running: wait"):
            with run_lock(path, "web"):
                pass
    finally:
        os.close(handle)


def test_a_lock_held_by_another_process_refuses_the_run(tmp_path):
    path = tmp_path / "web" / ".lock"
    path.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, sys
        fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, str(os.getpid()).encode())
        print("locked", flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(UserError, match=rf"already running \(process {holder.pid}\)"):
            with run_lock(path, "web"):
                pass
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
        holder.stdout.close()


def test_the_lock_is_free_again_after_the_run(tmp_path):
    path = tmp_path / "web" / ".lock"
    with run_lock(path, "web"):
        pass
    with run_lock(path, "web"):
        pass


def test_the_lock_is_released_when_the_run_fails(tmp_path):
    path = tmp_path / "web" / ".lock"
    with pytest.raises(RuntimeError):
        with run_lock(path, "web"):
            raise RuntimeError("migration crashed")
    with run_lock(path, "web"):
        pass


def test_locks_of_different_apps_do_not_block_each_other(tmp_path):
    with run_lock(tmp_path / "web" / ".lock", "web"):
        with run_lock(tmp_path / "api" / ".lock", "api"):
            pass


def test_a_lock_that_cannot_be_created_is_one_readable_error(tmp_path):
    (tmp_path / "web").write_text("a file where the app directory should be")
    with pytest.raises(UserError, match="^Could not take the migration lock of web"):
        with run_lock(tmp_path / "web" / ".lock", "web"):
            pass


# --- deploy_lock ------------------------------------------------------------------------------

def test_a_manual_run_holds_dokkus_lock_with_its_holder_written_in_it(tmp_path):
    path = tmp_path / "apps" / "web" / ".deploy.lock"
    path.parent.mkdir(parents=True)
    with deploy_lock(path, "web", "4242"):
        assert path.read_text() == "4242"
        assert not flock_is_free(path)


def test_the_deploy_lock_file_is_removed_when_the_run_ends_as_dokku_removes_it(tmp_path):
    path = tmp_path / "apps" / "web" / ".deploy.lock"
    path.parent.mkdir(parents=True)
    with pytest.raises(RuntimeError):
        with deploy_lock(path, "web", "4242"):
            raise RuntimeError("the run failed")
    assert not path.exists()


def test_a_manual_run_is_refused_while_a_deploy_holds_dokkus_lock(tmp_path):
    path = tmp_path / "apps" / "web" / ".deploy.lock"
    handle = held_elsewhere(path)
    try:
        with pytest.raises(UserError, match="^A deploy of web is in progress"):
            with deploy_lock(path, "web", "4242"):
                pass
        assert path.exists()
    finally:
        os.close(handle)


def test_a_manual_run_is_refused_on_an_app_locked_with_apps_lock_and_the_lock_stays(tmp_path):
    path = tmp_path / "apps" / "web" / ".deploy.lock"
    path.parent.mkdir(parents=True)
    path.write_text("")
    with pytest.raises(UserError, match="^web is locked .*dokku apps:unlock web"):
        with deploy_lock(path, "web", "4242"):
            pass
    assert path.exists()


def test_a_missing_lock_directory_is_refused_never_run_unlocked(tmp_path):
    path = tmp_path / "apps" / "web" / ".deploy.lock"
    ran = False
    with pytest.raises(UserError, match="^Could not take the deploy lock of web: .* is missing; run 'sudo dokku "
                                        "plugin:install'"):
        with deploy_lock(path, "web", "4242"):
            ran = True
    assert not ran and not path.parent.exists()


def flock_is_free(path) -> bool:
    handle = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(handle)


REPO = Path(__file__).resolve().parents[2]


# --- held_by_another: is a deploy other than ours in progress? -----------------------------------
HOLD = "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); " \
       "print('held', flush=True); time.sleep(30)"


def test_a_lock_another_process_holds_is_another_deploy(tmp_path):
    path = tmp_path / ".deploy.lock"
    path.touch()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert held_by_another(path)
    finally:
        holder.kill()
        holder.wait()
    assert not held_by_another(path)


def test_the_lock_this_process_inherited_on_fd_200_is_its_own_deploy(tmp_path):
    """A git deploy's hooks inherit its flock on fd 200: their own deploy, not another."""
    path = tmp_path / ".deploy.lock"
    path.touch()
    code = ("import fcntl, os, sys; from pathlib import Path\n"
            "from dokku_migrations.common.lock import held_by_another\n"
            "fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); os.dup2(fd, 200); "
            "pid = os.fork()\n"
            "if pid == 0:\n    os._exit(3 if held_by_another(Path(sys.argv[1])) else 0)\n"
            "sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))")
    result = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO)
    assert result.returncode == 0


def test_no_lock_file_is_no_deploy(tmp_path):
    assert not held_by_another(tmp_path / ".deploy.lock")
