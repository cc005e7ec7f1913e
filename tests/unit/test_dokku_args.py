"""What is taken from Dokku as text: app names, and the docker options of the app's deploy phase."""

from pathlib import Path

import pytest

from dokku_migrations.common.errors import UserError
from dokku_migrations.dokku.host import Dokku, check_app_name, filter_task_args, split_args

# --- check_app_name ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["web", "my-app", "api.v2", "0app", "a" * 63])
def test_a_dokku_app_name_is_accepted_as_it_is(name):
    assert check_app_name(name) == name


@pytest.mark.parametrize("name", ["my_app", "legacy_app.v1", "a" * 200])
def test_a_legacy_name_with_an_underscore_or_of_any_length_is_accepted_as_dokku_does(name):
    assert check_app_name(name) == name


@pytest.mark.parametrize("name", ["../x", "a b", "A", "", "a;rm", "a\nb", "-app", ".app", "a/b", "_app",
                                  "a$(id)"],
                         ids=["dotdot", "space", "uppercase", "empty", "semicolon", "newline", "leading-dash",
                              "leading-dot", "slash", "leading-underscore", "subshell"])
def test_a_name_dokku_would_not_accept_is_refused(name):
    with pytest.raises(UserError, match="Invalid app name"):
        check_app_name(name)


def test_an_app_name_ending_in_a_newline_is_refused():
    with pytest.raises(UserError, match="Invalid app name"):
        check_app_name("web\n")


def test_a_refused_name_is_shown_on_one_line_with_control_characters_escaped():
    with pytest.raises(UserError) as error:
        check_app_name("a\nb\x1b")
    assert error.value.message.startswith("Invalid app name 'a\\nb\\x1b': ")
    assert "\n" not in error.value.message


def test_no_app_name_at_all_is_refused():
    with pytest.raises(UserError, match="Invalid app name ''"):
        check_app_name(None)


# --- filter_task_args -------------------------------------------------------------------------

@pytest.mark.parametrize("dropped", [
    ["--memory", "1g"], ["--memory=1g"], ["-p", "80:80"], ["-p=80:80"], ["--publish", "443:443"],
    ["--publish-all"], ["-P"], ["--restart=always"], ["--restart", "unless-stopped"], ["--cpus", "2"],
    ["--gpus=all"], ["--memory-swap", "2g"], ["--memory-reservation=512m"],
], ids=lambda args: " ".join(args))
def test_a_flag_dokku_drops_for_task_containers_is_dropped_with_its_value(dropped):
    assert filter_task_args(["--init"] + dropped + ["--env=A"]) == ["--init", "--env=A"]


def test_links_and_env_keys_are_kept():
    args = ["--link", "x:y", "--env=K", "-v", "/data:/data", "--network=app-net"]
    assert filter_task_args(args) == args


def test_a_flag_without_a_value_does_not_swallow_the_next_argument():
    assert filter_task_args(["--publish-all", "--link", "x:y", "-P", "--env=K"]) == ["--link", "x:y", "--env=K"]


def test_every_dropped_flag_in_one_list_is_dropped():
    args = ["--memory", "1g", "--memory=1g", "-p", "80:80", "--publish-all", "--restart=always",
            "--link", "x:y", "--env=K"]
    assert filter_task_args(args) == ["--link", "x:y", "--env=K"]


def test_a_flag_that_only_starts_like_a_dropped_one_is_kept():
    assert filter_task_args(["--memory-swappiness=0", "--cpuset-cpus=0"]) == ["--memory-swappiness=0",
                                                                             "--cpuset-cpus=0"]


# --- split_args -------------------------------------------------------------------------------

def test_docker_options_are_split_by_shell_quoting_rules():
    assert split_args("--env=A --label 'com.x=a b' -v \"/a b:/c\"") == \
        ["--env=A", "--label", "com.x=a b", "-v", "/a b:/c"]


def test_empty_docker_options_split_to_nothing():
    assert split_args("  \n") == []


def test_docker_options_with_an_unclosed_quote_are_refused_readably():
    with pytest.raises(UserError, match="Could not read the app's docker options"):
        split_args("--label 'unclosed")


# --- where Dokku keeps things ------------------------------------------------------------------

def test_paths_come_from_dokkus_environment():
    dokku = Dokku.from_environ({"DOKKU_ROOT": "/srv/dokku", "DOKKU_LIB_ROOT": "/srv/lib", "DOCKER_BIN": "podman",
                                "DOKKU_GLOBAL_RUN_ARGS": "--init"})
    assert (dokku.root, dokku.lib_root, dokku.docker_bin, dokku.global_run_args) == \
        (Path("/srv/dokku"), Path("/srv/lib"), "podman", "--init")


def test_paths_default_to_dokkus_standard_layout():
    dokku = Dokku.from_environ({})
    assert (dokku.root, dokku.lib_root, dokku.docker_bin) == (Path("/home/dokku"), Path("/var/lib/dokku"), "docker")


@pytest.mark.parametrize("version, place", [("0.25.1", "root"), ("0.33.9", "root"), ("0.34.0", "data"),
                                            ("0.38.27", "data")])
def test_the_deploy_lock_is_where_that_dokku_version_puts_it(tmp_path, version, place):
    dokku = Dokku.from_environ({"DOKKU_ROOT": str(tmp_path / "home"), "DOKKU_LIB_ROOT": str(tmp_path / "lib")})
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "VERSION").write_text(version + "\n")
    expected = {"root": tmp_path / "home" / "web", "data": tmp_path / "lib" / "data" / "apps" / "web"}[place]
    assert dokku.deploy_lock_path("web") == expected / ".deploy.lock"


@pytest.mark.parametrize("data_dir, place", [(True, "data"), (False, "root")])
def test_an_unknown_dokku_version_is_told_by_the_apps_data_directory(tmp_path, data_dir, place):
    dokku = Dokku.from_environ({"DOKKU_ROOT": str(tmp_path / "home"), "DOKKU_LIB_ROOT": str(tmp_path / "lib")})
    if data_dir:
        (tmp_path / "lib" / "data" / "apps" / "web").mkdir(parents=True)
    expected = {"root": tmp_path / "home" / "web", "data": tmp_path / "lib" / "data" / "apps" / "web"}[place]
    assert dokku.deploy_lock_path("web") == expected / ".deploy.lock"
