"""A failed migration never goes live later: `ps:restart`, `ps:scale` and `dokku deploy` start
`dokku/<app>:latest` without release triggers (plugins/ps/ps.go Restart, functions.go scaleSet,
plugins/common/functions cmd-deploy), so the plugin keeps that tag safe."""

import pytest

from .apps import FAILING_MIGRATION, create_table
from .conftest import new_app
from .host import built_from, docker, http_get, image_exists

WIDGETS = {"1700000000001_widgets.js": create_table("widgets")}
GATED = {"start": "node server.js", "migrate": 'test "$ALLOW_MIGRATION" = yes && node-pg-migrate up'}


def image_id(ref: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", ref)


def deploy_v1_then_failing_v2(host, images, app):
    v1 = images.node_app("shop", "v1", WIDGETS)
    v2 = images.node_app("shop", "v2", {**WIDGETS, "1700000000002_broken.js": FAILING_MIGRATION})
    assert host.dokku("git:from-image", app, v1).code == 0
    running = host.web_containers(app)[0]["Image"]
    assert host.dokku("git:from-image", app, v2).code != 0
    return running, v2


@pytest.fixture(scope="module")
def failed_release(host, images):
    """An app whose v2 failed its migrations after v1 went live: the app, the serving image and v2, for
    tests that leave that state as it is (a restart starts the same image again; xdist group
    "failed-release": one worker)."""
    app = new_app(host, database=True)
    return (app, *deploy_v1_then_failing_v2(host, images, app))


@pytest.mark.xdist_group("failed-release")
def test_after_a_failed_release_ps_restart_keeps_serving_the_previous_image(host, failed_release):
    app, running, _ = failed_release

    result = host.dokku("ps:restart", app)

    assert result.code == 0, result.output
    [container] = host.web_containers(app)
    assert container["Image"] == running
    assert http_get(container) == "v1"


def test_after_a_failed_release_ps_scale_and_deploy_start_the_previous_image(host, images, app):
    running, _ = deploy_v1_then_failing_v2(host, images, app)

    assert host.dokku("ps:scale", app, "web=2").code == 0
    assert host.dokku("deploy", app).code == 0

    containers = host.web_containers(app)
    assert len(containers) == 2
    assert {c["Image"] for c in containers} == {running}


@pytest.mark.xdist_group("failed-release")
def test_the_unmigrated_image_is_kept_under_its_own_tag(host, failed_release):
    app, _, v2 = failed_release

    assert built_from(image_id(f"dokku/{app}:migrations-failed")) == v2
    assert host.dokku("migrations:report", app, "--migrations-latest-image-migrated").stdout == "true\n"


def test_an_app_whose_first_deploy_failed_is_not_started_by_ps_restart(host, images, app):
    """Dokku's ps:restart returns early for an app that was never deployed (plugins/ps/ps.go Restart)."""
    image = images.node_app("gated", "v1", WIDGETS, scripts=GATED)
    assert host.dokku("git:from-image", app, image).code != 0

    result = host.dokku("ps:restart", app)

    assert result.code == 0
    assert f" !     App {app} has not been deployed" in result.failures
    assert host.web_containers(app) == []


def test_a_first_deploy_that_fails_makes_dokku_deploy_refuse_clearly(host, images, app):
    image = images.node_app("gated", "v1", WIDGETS, scripts=GATED)
    assert host.dokku("git:from-image", app, image).code != 0

    result = host.dokku("deploy", app)

    assert result.code != 0
    assert f"Refusing to start dokku/{app}:latest: its migrations failed" in result.stderr
    assert f"dokku migrations:run {app}" in result.stderr
    assert host.web_containers(app) == []
    assert host.dokku("migrations:report", app, "--migrations-latest-image-migrated").stdout == "false\n"


def test_a_successful_migrations_run_makes_the_image_deployable_again(host, images, app):
    image = images.node_app("gated", "v1", WIDGETS, scripts=GATED)
    assert host.dokku("git:from-image", app, image).code != 0
    assert host.dokku("config:set", "--no-restart", app, "ALLOW_MIGRATION=yes").code == 0

    assert host.dokku("migrations:run", app).code == 0
    result = host.dokku("deploy", app)

    assert result.code == 0, result.output
    assert http_get(host.web_containers(app)[0]) == "v1"
    assert host.dokku("migrations:report", app, "--migrations-latest-image-migrated").stdout == "true\n"


def test_a_successful_release_changes_nothing_about_restarts(host, images, app):
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS)).code == 0
    latest = image_id(f"dokku/{app}:latest")

    result = host.dokku("ps:restart", app)

    assert result.code == 0, result.output
    assert image_id(f"dokku/{app}:latest") == latest
    assert host.web_containers(app)[0]["Image"] == latest
    assert not image_exists(f"dokku/{app}:migrations-failed")
    assert host.dokku("migrations:report", app, "--migrations-latest-image-migrated").stdout == "true\n"


def test_a_config_set_whose_migrations_fail_says_plainly_that_the_new_config_is_not_live(host, images, app):
    """config:set only warns when its release fails, and exits 0 (plugins/config/config.go
    triggerRestart): the plugin's own line is what the person reads."""
    assert host.dokku("config:set", "--no-restart", app, "ALLOW_MIGRATION=yes").code == 0
    assert host.dokku("git:from-image", app, images.node_app("gated", "v1", WIDGETS, scripts=GATED)).code == 0

    result = host.dokku("config:set", app, "ALLOW_MIGRATION=no")

    assert result.code == 0
    assert result.stderr.startswith(" !     Failure while restarting app:")
    [line] = [line for line in result.failures if "Migration command 'npm run migrate' failed" in line]
    assert "nothing that runs was changed" in line
    assert f"the next 'dokku ps:restart {app}' starts the app with it" in line
    assert line.endswith(f"then run 'dokku migrations:run {app}'")
    [container] = host.web_containers(app)
    assert "ALLOW_MIGRATION=yes" in container["Config"]["Env"]


def test_after_a_config_set_whose_migrations_failed_ps_restart_starts_the_app_with_the_new_config(host, images, app):
    """What the line above warns about: the image already went live, so the gate lets it start."""
    assert host.dokku("config:set", "--no-restart", app, "ALLOW_MIGRATION=yes").code == 0
    assert host.dokku("git:from-image", app, images.node_app("gated", "v1", WIDGETS, scripts=GATED)).code == 0
    assert host.dokku("config:set", app, "ALLOW_MIGRATION=no").code == 0

    assert host.dokku("ps:restart", app).code == 0

    [container] = host.web_containers(app)
    assert "ALLOW_MIGRATION=no" in container["Config"]["Env"]


# --- the image the scheduler starts, as a registry names it ---------------------------------------
def push_on_release(host, app, tag_version: str, image: str) -> None:
    """What the registry plugin leaves after a push (plugins/registry functions.go pushToRegistry): the
    image tagged `dokku/<app>:<N>`, tag-version N, push-on-release on; its `deployed-app-image-tag`
    then names that tag to the scheduler (plugins/common/functions get_running_image_tag)."""
    docker("image", "tag", image, f"dokku/{app}:{tag_version}")
    for key, value in (("push-on-release", "true"), ("tag-version", tag_version)):
        path = host.lib_root / "config" / "registry" / app / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)


def test_scheduler_deploy_checks_the_image_the_registry_tag_names_not_latest(host, images, app):
    running, _ = deploy_v1_then_failing_v2(host, images, app)
    push_on_release(host, app, "2", f"dokku/{app}:migrations-failed")

    refused = host.dokku("deploy", app)  # the tag as typed, none: only deployed-app-image-tag names `2`
    push_on_release(host, app, "3", running)
    restarted = host.dokku("deploy", app)

    assert refused.code != 0
    assert f"Refusing to start dokku/{app}:2: its migrations failed" in refused.output
    assert restarted.code == 0, restarted.output
    assert [container["Image"] for container in host.web_containers(app)] == [running]


def test_failing_deployed_app_triggers_are_ignored_as_dokkus_scheduler_ignores_them(host, images, app):
    """`dokku deploy` goes straight to scheduler-deploy (plugins/common/functions cmd-deploy), and
    get_deploying_app_image_name reads the deployed-app-* triggers with `local VAR=$(plugn trigger …)`:
    `local` masks the exit status, and what a failing trigger printed still counts. (ps:restart and
    ps:scale never get that far: plugins/ps/ps.go Restart returns GetRunningImageTag's error.)"""
    running, _ = deploy_v1_then_failing_v2(host, images, app)
    docker("image", "tag", f"dokku/{app}:migrations-failed", f"dokku/{app}:2")
    broken = host.base / "broken-registry"
    broken.mkdir()
    (broken / "deployed-app-repository").write_text("#!/bin/sh\necho 'registry: no server' >&2\nexit 1\n")
    (broken / "deployed-app-image-tag").write_text("#!/bin/sh\necho \"$TAG\"\nexit 1\n")
    for hook in broken.iterdir():
        hook.chmod(0o755)
    (host.enabled / "00_broken").symlink_to(broken)
    try:
        started = host.dokku("deploy", app, env={"TAG": ""})
        refused = host.dokku("deploy", app, env={"TAG": "2"})
    finally:
        (host.enabled / "00_broken").unlink()

    assert started.code == 0, started.output
    assert refused.code != 0
    assert f"Refusing to start dokku/{app}:2: its migrations failed" in refused.output
    assert [container["Image"] for container in host.web_containers(app)] == [running]


def test_a_one_off_container_of_another_image_is_not_taken_for_the_serving_one(host, images, app):
    """`dokku run` containers carry the app's label too, with `com.dokku.container-type=run`
    (plugins/scheduler-docker-local/scheduler-run): only the deploy containers say what serves."""
    v1 = images.node_app("shop", "v1", WIDGETS)
    assert host.dokku("git:from-image", app, v1).code == 0
    serving = host.web_containers(app)[0]["Image"]
    other = images.node_app("shop", "v0", WIDGETS)
    one_off = docker("container", "run", "--detach", "--label=dokku", "--label=org.label-schema.vendor=dokku",
                     "--label=com.dokku.container-type=run", f"--label=com.dokku.app-name={app}",
                     f"--label=dm-e2e={host.base.name}", "--env=DYNO=run.4242", f"--name={app}.run.4242",
                     "--entrypoint=sleep", other, "600")
    try:
        failed = host.dokku("git:from-image", app, images.node_app("shop", "v2", {
            **WIDGETS, "1700000000002_broken.js": FAILING_MIGRATION}))
    finally:
        docker("container", "rm", "--force", one_off)

    assert failed.code != 0
    assert image_id(f"dokku/{app}:latest") == serving != image_id(other)
    assert f"dokku/{app}:latest points to the running image again" in failed.output
