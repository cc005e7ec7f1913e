"""Plan: whether to run, what to run, and the exact `docker container create` argv."""

import pytest

from dokku_migrations.common.errors import UserError
from dokku_migrations.docker.image import ImageInfo
from dokku_migrations.run.manifest import Detection, parse_rule
from dokku_migrations.run.plan import (
    DISABLED,
    DOCKERFILE,
    HEROKUISH,
    PACK,
    RUN,
    SKIP,
    container_args,
    decide,
    image_kind,
    move_env_values,
    source_type,
    task_command,
)
from dokku_migrations.run.settings import resolve

RULE = parse_rule("package.json:$.scripts.migrate=>npm run migrate")
DETECTED = Detection(rule=RULE, path="/app/package.json", command="npm run migrate")


def image(entrypoint=(), labels=None, env=(), workdir="/app", stop_signal=""):
    return ImageInfo(ref="dokku/web:latest", id="sha256:abc", workdir=workdir, entrypoint=list(entrypoint),
                     labels=dict(labels or {}), env=list(env), repo_tags=[], stop_signal=stop_signal)


def detector(result=DETECTED):
    """A fake detection: returns `result` and counts how often it was asked."""
    def detect():
        detect.calls += 1
        return result
    detect.calls = 0
    return detect


def args_for(kind=DOCKERFILE, img=None, command="npm run migrate", deploy_args=(), global_run_args=(),
             memory="", cpus="", run_id=7):
    return container_args(app="web", run_id=run_id, image=img or image(), kind=kind, command=command,
                          deploy_args=list(deploy_args), global_run_args=list(global_run_args),
                          memory=memory, cpus=cpus)


# --- decide -----------------------------------------------------------------------------------

def test_disabled_migrations_are_not_run():
    plan = decide(resolve({"enabled": "false"}, {}), detector())
    assert (plan.action, plan.reason) == (DISABLED, "migrations are disabled (enabled=false)")


def test_disabled_migrations_do_not_even_look_at_the_image():
    detect = detector()
    decide(resolve({"enabled": "false", "command": "rake db:migrate"}, {}), detect)
    assert detect.calls == 0


def test_disabled_beats_a_command_setting():
    assert decide(resolve({"command": "rake db:migrate"}, {"enabled": "false"}), detector()).action == DISABLED


def test_a_command_setting_wins_over_detection():
    plan = decide(resolve({"command": "rake db:migrate"}, {}), detector())
    assert (plan.action, plan.command) == (RUN, "rake db:migrate")


def test_a_command_setting_means_detection_is_not_even_called():
    detect = detector()
    decide(resolve({"command": "rake db:migrate"}, {}), detect)
    assert detect.calls == 0


def test_a_command_setting_names_where_it_was_set():
    assert decide(resolve({}, {"command": "rake db:migrate"}), detector()).source == "global setting 'command'"
    assert decide(resolve({"command": "rake db:migrate"}, {}), detector()).source == "app setting 'command'"


def test_a_detected_command_is_run_with_its_source():
    plan = decide(resolve({}, {}), detector())
    assert (plan.action, plan.command, plan.source) == (RUN, "npm run migrate", "/app/package.json $.scripts.migrate")


def test_nothing_detected_is_a_skip_whose_reason_names_what_was_looked_for():
    plan = decide(resolve({}, {}), detector(None))
    assert plan.action == SKIP
    assert plan.reason == ("no migration command found (looked for $.migrations.command in app.json, "
                           "$.scripts.migrate in package.json, $.scripts.migrate in composer.json)")


def test_the_skip_reason_names_every_rule_that_was_tried():
    settings = resolve({"detect": "package.json:$.scripts.migrate=>npm run migrate\n"
                                  "composer.json:$.scripts.migrate=>composer migrate"}, {})
    assert decide(settings, detector(None)).reason == (
        "no migration command found (looked for $.scripts.migrate in package.json, "
        "$.scripts.migrate in composer.json)")


# --- image_kind -------------------------------------------------------------------------------

def test_an_image_with_a_buildpacks_stack_label_is_a_cloud_native_buildpack_image():
    assert image_kind(image(labels={"io.buildpacks.stack.id": "heroku-22"})) == PACK


def test_the_buildpacks_label_wins_over_a_herokuish_user():
    assert image_kind(image(labels={"io.buildpacks.stack.id": "x"}, env=["USER=herokuishuser"])) == PACK


def test_an_empty_buildpacks_label_does_not_make_a_cnb_image():
    assert image_kind(image(labels={"io.buildpacks.stack.id": ""})) == DOCKERFILE


def test_an_image_whose_env_has_the_herokuish_user_is_a_herokuish_image():
    assert image_kind(image(env=["PATH=/bin", "USER=herokuishuser"])) == HEROKUISH


def test_a_custom_app_user_identifies_a_herokuish_image():
    assert image_kind(image(env=["USER=deployer"]), app_user="deployer") == HEROKUISH
    assert image_kind(image(env=["USER=herokuishuser"]), app_user="deployer") == DOCKERFILE


def test_any_other_image_is_a_dockerfile_image():
    assert image_kind(image(env=["USER=node"])) == DOCKERFILE


def test_cnb_images_count_as_herokuish_for_dokkus_docker_args():
    assert [source_type(kind) for kind in (PACK, HEROKUISH, DOCKERFILE)] == [HEROKUISH, HEROKUISH, DOCKERFILE]


# --- task_command -----------------------------------------------------------------------------

def test_a_dockerfile_image_without_entrypoint_runs_the_command_with_posix_sh():
    assert task_command(image(), DOCKERFILE, "npm run migrate && echo ok") == \
        ["/bin/sh", "-c", "trap 'exit 143' TERM; npm run migrate && echo ok"]


def test_a_dockerfile_image_with_its_own_entrypoint_gets_the_commands_words():
    img = image(entrypoint=["/docker-entrypoint.sh"])
    assert task_command(img, DOCKERFILE, "npm run 'migrate up'") == ["npm", "run", "migrate up"]


@pytest.mark.parametrize("tini", ["/tini", "/bin/tini", "/usr/bin/tini", "/usr/local/bin/tini"])
def test_a_dockerfile_image_with_tini_as_entrypoint_still_runs_the_command_with_sh(tini):
    assert task_command(image(entrypoint=[tini, "--"]), DOCKERFILE, "npm run migrate") == \
        ["/bin/sh", "-c", "trap 'exit 143' TERM; npm run migrate"]


def test_a_command_that_cannot_be_split_into_words_for_an_entrypoint_is_refused():
    with pytest.raises(UserError, match="Cannot split the command 'echo \"unclosed' into words"):
        task_command(image(entrypoint=["/docker-entrypoint.sh"]), DOCKERFILE, 'echo "unclosed')


def test_a_herokuish_image_runs_bash_with_the_profile_sourced_and_the_command_last():
    argv = task_command(image(), HEROKUISH, "npm run migrate")
    assert argv[:2] == ["/bin/bash", "-c"]
    script = argv[2]
    assert script.startswith("trap 'exit 143' TERM; set -e; ")
    assert "export HOME=/app" in script
    assert "/app/.profile.d/*" in script
    assert script.endswith("; npm run migrate")


def test_a_herokuish_image_ignores_its_entrypoint():
    argv = task_command(image(entrypoint=["/start"]), HEROKUISH, "npm run migrate")
    assert argv[0] == "/bin/bash"


def test_a_cnb_image_runs_bash_through_the_lifecycle_launcher():
    assert task_command(image(entrypoint=["/cnb/process/web"]), PACK, "npm run migrate") == \
        ["--entrypoint=/cnb/lifecycle/launcher", "/bin/bash", "-c", "trap 'exit 143' TERM; set -e; npm run migrate"]


@pytest.mark.parametrize("stop_signal,trap", [("", "trap 'exit 143' TERM; "), ("SIGINT", "trap 'exit 130' INT; "),
                                              ("QUIT", "trap 'exit 131' QUIT; "),
                                              ("SIGNOPE", "trap 'exit 143' TERM; ")])
def test_the_shell_traps_the_images_stop_signal_so_it_outlives_it_until_the_command_ends(stop_signal, trap):
    assert task_command(image(stop_signal=stop_signal), DOCKERFILE, "x")[2] == trap + "x"


def test_a_migration_container_gets_an_init_that_signals_the_whole_process_group():
    args = args_for()
    assert "--init" in args and "--env=TINI_KILL_PROCESS_GROUP=1" in args


def test_an_image_whose_entrypoint_is_tini_gets_no_second_init():
    args = args_for(img=image(entrypoint=["/tini", "--"]))
    assert "--init" not in args and "--env=TINI_KILL_PROCESS_GROUP=1" in args


# --- move_env_values --------------------------------------------------------------------------

def test_env_with_equals_and_a_value_becomes_a_key_only_flag():
    assert move_env_values(["--env=DATABASE_URL=postgres://u:p@db/app"]) == \
        (["--env=DATABASE_URL"], {"DATABASE_URL": "postgres://u:p@db/app"})


def test_short_e_with_a_separate_value_becomes_a_key_only_flag():
    assert move_env_values(["-e", "SECRET=hunter2"]) == (["--env=SECRET"], {"SECRET": "hunter2"})


def test_long_env_with_a_separate_value_becomes_a_key_only_flag():
    assert move_env_values(["--env", "SECRET=hunter2"]) == (["--env=SECRET"], {"SECRET": "hunter2"})


def test_short_e_with_an_attached_value_becomes_a_key_only_flag():
    assert move_env_values(["-eSECRET=hunter2"]) == (["--env=SECRET"], {"SECRET": "hunter2"})


def test_a_key_only_env_flag_is_kept_and_has_no_value_to_move():
    assert move_env_values(["--env=DATABASE_URL", "-e", "REDIS_URL"]) == (["--env=DATABASE_URL", "--env=REDIS_URL"], {})


def test_a_value_containing_equals_signs_is_moved_whole():
    assert move_env_values(["--env=QUERY=a=1&b=2"])[1] == {"QUERY": "a=1&b=2"}


def test_an_empty_value_is_moved_as_empty():
    assert move_env_values(["--env=EMPTY="]) == (["--env=EMPTY"], {"EMPTY": ""})


def test_other_docker_args_are_kept_in_order():
    args = ["--link", "db:db", "-e", "A=1", "--env-file", "/tmp/env", "--network=bridge"]
    assert move_env_values(args)[0] == ["--link", "db:db", "--env=A", "--env-file", "/tmp/env", "--network=bridge"]


def test_move_env_values_does_not_change_the_list_it_was_given():
    args = ["-e", "A=1"]
    move_env_values(args)
    assert args == ["-e", "A=1"]


# --- container_args ---------------------------------------------------------------------------

def test_the_container_runs_the_image_by_id_so_a_moved_tag_cannot_swap_it():
    assert "dokku/web:latest" not in args_for() and "sha256:abc" in args_for()


def test_the_container_carries_dokkus_app_and_phase_labels_and_the_run_id():
    args = args_for(run_id=42)
    assert "--label=com.dokku.app-name=web" in args
    assert "--label=dokku_phase_script=predeploy" in args
    assert "--label=com.dokku.migrations.run=42" in args


def test_the_image_comes_after_every_option_and_the_command_after_the_image():
    args = args_for(deploy_args=["--env=A"], memory="512m")
    assert args[-4:] == ["sha256:abc", "/bin/sh", "-c", "trap 'exit 143' TERM; npm run migrate"]


def test_deploy_args_come_before_dokkus_global_run_args():
    args = args_for(deploy_args=["--link", "db:db"], global_run_args=["--init"])
    assert args[:3] == ["--link", "db:db", "--init"]


def test_memory_and_cpu_limits_are_passed_when_set():
    args = args_for(memory="512m", cpus="1.5")
    assert "--memory=512m" in args and "--cpus=1.5" in args


def test_no_limits_are_passed_when_unset():
    assert not [arg for arg in args_for() if arg.startswith(("--memory", "--cpus"))]


def test_a_cnb_entrypoint_override_is_placed_before_the_image():
    args = args_for(kind=PACK)
    position = args.index("sha256:abc")
    assert args[position - 1] == "--entrypoint=/cnb/lifecycle/launcher"
    assert args[position + 1:] == ["/bin/bash", "-c", "trap 'exit 143' TERM; set -e; npm run migrate"]


def test_the_container_argv_never_contains_a_config_value():
    deploy_args, values = move_env_values(
        ["--env=DATABASE_URL=postgres://u:s3cr3t@db/app", "-e", "API_TOKEN=tok-123", "--env", "SALT=pepper",
         "--link", "db:db"])
    args = args_for(deploy_args=deploy_args)
    assert values == {"DATABASE_URL": "postgres://u:s3cr3t@db/app", "API_TOKEN": "tok-123", "SALT": "pepper"}
    assert not [arg for arg in args if any(value in arg for value in values.values())]
    assert {"--env=DATABASE_URL", "--env=API_TOKEN", "--env=SALT"} <= set(args)
