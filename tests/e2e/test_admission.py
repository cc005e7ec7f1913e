"""What may start: only an image whose release passed the plugin, or that demonstrably served before.

Builders tag `dokku/<app>:latest` before any release trigger (plugins/builder-dockerfile builder-build),
and whatever stops a release before the plugin's hook — app.json's predeploy, another plugin, a
`builds:cancel` — leaves the new image there for `ps:restart`, `ps:scale`, `dokku deploy`, `dokku run`
and cron jobs. Each test delivers the real sequence and looks at what serves and what ran."""

import json
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator

import pytest

from .conftest import make_host, new_app
from .host import Host, docker, http_get, wait_for

NOTHING = {"start": "node server.js", "migrate": "true"}  # a migration that needs no database
# Waits until the test creates /tmp/go inside the migration's own container (docker exec).
WAITING = {"start": "node server.js", "migrate": "while [ ! -e /tmp/go ]; do sleep 0.2; done"}
RACING = {"start": "node server.js",
          "migrate": 'if [ "$SLOW" = yes ]; then while [ ! -e /tmp/go ]; do sleep 0.2; done; fi'}


# --- helpers --------------------------------------------------------------------------------------
def running_migration(app: str) -> str:
    return wait_for("the running migration", lambda: docker(
        "container", "ls", "--quiet", "--filter", "label=com.dokku.migrations.run",
        "--filter", f"label=com.dokku.app-name={app}"))


def served(host: Host, app: str) -> set:
    return {http_get(container) for container in host.web_containers(app)}


@contextmanager
def another_plugin(host: Host, name: str, hooks: Dict[str, str]) -> Iterator[None]:
    """A community plugin beside this one, enabled as `plugin:install` enables it (plugn: a link in
    enabled/ to available/), its hooks bash scripts."""
    directory = host.available / name
    directory.mkdir()
    (directory / "plugin.toml").write_text('[plugin]\ndescription = "test"\nversion = "0.0.1"\n[plugin.config]\n')
    for trigger, body in hooks.items():
        (directory / trigger).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (directory / trigger).chmod(0o755)
    (host.enabled / name).symlink_to(directory)
    try:
        yield
    finally:
        (host.enabled / name).unlink()
        shutil.rmtree(directory)


def signal_dir(host: Host) -> Path:
    """A directory the hooks (as the dokku user) and the test both write in."""
    directory = host.base / f"signals-{secrets.token_hex(3)}"
    directory.mkdir()
    shutil.chown(directory, "dokku", "dokku")
    return directory


# --- route 1: deny by default, pending from post-build ---------------------------------------------
def test_a_failed_app_json_predeploy_leaves_the_new_image_refused_by_restarts(host, images, bare_app):
    app = bare_app
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=NOTHING)).code == 0
    predeploy = json.dumps({"scripts": {"dokku": {"predeploy": "exit 3"}}})
    failed = host.dokku("git:from-image", app, images.node_app("shop", "v2", {}, scripts=NOTHING,
                                                               extra={"app.json": predeploy}))

    restart = host.dokku("ps:restart", app)

    assert failed.code != 0 and "Execution of predeploy task failed" in failed.output
    assert restart.code != 0
    assert f"Refusing to start dokku/{app}:latest: its migrations never finished" in restart.output
    assert served(host, app) == {"v1"}


def test_another_plugin_failing_first_in_pre_release_builder_leaves_the_new_image_refused(host, images, bare_app):
    app = bare_app
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=NOTHING)).code == 0
    with another_plugin(host, "aa-guard", {"pre-release-builder": f'[[ "$2" != {app} ]] || exit 1'}):
        failed = host.dokku("git:from-image", app, images.node_app("shop", "v2", {}, scripts=NOTHING))

    deploy = host.dokku("deploy", app)

    assert failed.code != 0
    assert deploy.code != 0
    assert f"Refusing to start dokku/{app}:latest: its migrations never finished" in deploy.output
    assert served(host, app) == {"v1"}


def test_a_builds_cancel_before_the_plugin_ran_leaves_the_new_image_refused(host, images, bare_app):
    """SIGQUIT to the deploy's process group while app.json's predeploy (run before the plugin's hook)
    is still at work."""
    app = bare_app
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=NOTHING)).code == 0
    predeploy = json.dumps({"scripts": {"dokku": {"predeploy": "sleep 120"}}})
    deploy = host.spawn("git:from-image", app, images.node_app("shop", "v2", {}, scripts=NOTHING,
                                                                extra={"app.json": predeploy}))
    wait_for("the predeploy task", lambda: docker("container", "ls", "--quiet", "--filter",
                                                   "label=dokku_phase_script=predeploy", "--filter",
                                                   f"label=com.dokku.app-name={app}"))

    cancel = host.dokku("builds:cancel", app)
    deploy.communicate(timeout=120)
    scale = host.dokku("ps:scale", app, "web=2")

    assert "Killing app deploy" in cancel.output
    assert deploy.returncode != 0
    assert scale.code != 0
    assert f"Refusing to start dokku/{app}:latest: its migrations never finished" in scale.output
    assert served(host, app) == {"v1"}


def test_a_ps_scale_racing_a_build_is_refused_before_the_plugin_has_seen_the_image(host, images, bare_app):
    """Between the build's tag of latest and the first trigger the plugin gets (another plugin's
    post-build here; herokuish's whole buildpack compile in life), the image has no record at all."""
    app = bare_app
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=NOTHING)).code == 0
    signals = signal_dir(host)
    hold = (f'[[ "$2" != {app} ]] || {{ touch {signals}/reached; for _ in $(seq 600); do '
            f'[[ -e {signals}/go ]] && break; sleep 0.1; done; }}')
    with another_plugin(host, "aa-slow", {"post-build": hold}):
        deploy = host.spawn("git:from-image", app, images.node_app("shop", "v2", {}, scripts=NOTHING))
        wait_for("the build to reach post-build", lambda: (signals / "reached").exists())
        scale = host.dokku("ps:scale", app, "web=2")
        during = served(host, app)
        (signals / "go").touch()
        out, err = deploy.communicate(timeout=180)

    assert scale.code != 0
    assert f"Refusing to start dokku/{app}:latest: no release of it ever reached dokku-migrations" in scale.output
    assert during == {"v1"}
    assert deploy.returncode == 0, out + err
    assert served(host, app) == {"v2"} and len(host.web_containers(app)) == 2


@pytest.fixture
def uninstalled_host(docker_available):
    """A host whose plugin is not installed yet: what ran before the plugin ran without it."""
    host = Host("0.38.27")
    yield host
    host.cleanup()


def test_an_image_that_served_before_the_first_install_starts_without_a_container_of_it(uninstalled_host, images):
    """Deny by default must not refuse what served before the plugin: scaled to zero, an app has no
    container of its image left, and only the list taken at the first install vouches for it."""
    host = uninstalled_host
    (host.enabled / "migrations").unlink()
    app = new_app(host, database=False)
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=NOTHING)).code == 0
    assert host.dokku("ps:scale", app, "web=0").code == 0
    (host.enabled / "migrations").symlink_to(host.plugin_dir)
    installed = host.install()

    scale = host.dokku("ps:scale", app, "web=1")

    assert installed.code == 0, installed.output
    assert "image(s) of 1 app(s) were here before dokku-migrations" in installed.stdout
    assert scale.code == 0, scale.output
    assert served(host, app) == {"v1"}


# --- route 2: a config:set racing a git push ---------------------------------------------------------
def test_a_config_set_racing_a_push_never_releases_the_pushs_unmigrated_image(host, images, bare_app):
    """config:set takes no deploy lock (plugins/config): its release migrates the serving image while a
    push retags latest and is refused by the migration lock; the release then rebuilds FROM latest,
    which is the push's image now."""
    app = bare_app
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=RACING)).code == 0
    release = host.spawn("config:set", app, "SLOW=yes")
    migration = running_migration(app)

    push = host.dokku("git:from-image", app, images.node_app("shop", "v2", {}, scripts=RACING))
    docker("container", "exec", migration, "touch", "/tmp/go")
    out, err = release.communicate(timeout=180)

    [container] = host.web_containers(app)
    assert http_get(container) == "v1"
    assert "SLOW=yes" in container["Config"]["Env"]
    assert push.code != 0 and f"Migrations for {app} are already running" in push.output
    # the refused push points latest back at once, so the release rebuilds on the migrated image; had it
    # found the push's image, post-release-builder would have refused it ("was retagged while run")
    assert f"dokku/{app}:latest points to the running image again" in push.output
    assert "was retagged while run" not in out + err
    assert host.dokku("migrations:report", app, "--migrations-latest-image-migrated").stdout == "true\n"


def test_a_config_set_release_finding_latest_on_a_push_still_building_refuses_that_code(host, images, bare_app):
    """The race's other moment: the push has built and tagged its image but not reached its release yet
    (held here at post-build, where another plugin's hook can keep it). The config:set release rebuilds
    FROM latest, the push's unmigrated code: post-release-builder refuses that image and leaves latest to
    the push (which holds Dokku's deploy lock), the code that serves keeps serving, and the push's own
    release migrates and releases its code."""
    app = bare_app
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=RACING)).code == 0
    release = host.spawn("config:set", app, "SLOW=yes")
    migration = running_migration(app)
    held = signal_dir(host)
    hook = f'[ "$2" = "{app}" ] || exit 0; touch {held}/reached; while [ ! -e {held}/go ]; do sleep 0.1; done'
    with another_plugin(host, f"00-hold-{app}", {"post-build": hook}):
        push = host.spawn("git:from-image", app, images.node_app("shop", "v2", {}, scripts=RACING))
        wait_for("the push to tag its image", (held / "reached").exists)
        docker("container", "exec", migration, "touch", "/tmp/go")
        out, err = release.communicate(timeout=180)
        served_after_release = served(host, app)
        (held / "go").touch()
        pushed = wait_for("the push's migration", lambda: [cid for cid in running_migration(app).split()
                                                            if cid != migration])
        docker("container", "exec", pushed[0], "touch", "/tmp/go")
        push_out, push_err = push.communicate(timeout=180)

    assert f"dokku/{app}:latest was retagged while run" in out + err and "still in progress" in out + err
    assert served_after_release == {"v1"}
    assert push.returncode == 0, push_out + push_err
    assert served(host, app) == {"v2"}, push_out + push_err
    assert host.dokku("migrations:report", app, "--migrations-latest-image-migrated").stdout == "true\n"


# --- route 3: dokku run and cron jobs --------------------------------------------------------------
CRON = json.dumps({"cron": [{"command": "cat /app/version.txt", "schedule": "@daily"}]})


@pytest.fixture(scope="module")
def pre_deploy_host(docker_available):
    """Dokku 0.25.1 – 0.31.x run the migrations from `pre-deploy`, after the release relabelled the
    image: during them `latest` is a release-stage image, which `dokku run` and cron accept (as
    herokuish's pre-release image during the migrations on every Dokku)."""
    host = make_host("0.31.5")
    yield host
    host.cleanup()


@contextmanager
def migrating(host, images):
    """An app serving v1 whose v2 deploy is in its migrations: (host, app, migration container). The
    deploy is let finish inside the test, which no migration container may outlive."""
    app = new_app(host, database=False)
    v1 = images.node_app("cron", "v1", {}, scripts=NOTHING, extra={"app.json": CRON})
    assert host.dokku("git:from-image", app, v1).code == 0
    deploy = host.spawn("git:from-image", app, images.node_app("cron", "v2", {}, scripts=WAITING,
                                                                extra={"app.json": CRON}))
    migration = running_migration(app)
    yield host, app, migration
    docker("container", "exec", migration, "touch", "/tmp/go", check=False)
    out, err = deploy.communicate(timeout=180)
    assert deploy.returncode == 0, out + err


def test_a_cron_job_during_a_deploys_migrations_is_refused_rather_than_run_in_the_new_code(pre_deploy_host, images):
    with migrating(pre_deploy_host, images) as (host, app, _):
        [task] = json.loads(host.dokku("cron:list", "--format", "json", app).stdout)

        job = host.dokku("cron:run", app, task["id"])

    assert job.code != 0
    assert f"Refusing to run a command in dokku/{app}:latest: its migrations never finished" in job.output
    assert "v2" not in job.stdout


def test_dokku_run_during_a_deploys_migrations_is_refused_rather_than_run_in_the_new_code(pre_deploy_host, images):
    with migrating(pre_deploy_host, images) as (host, app, _):
        run = host.dokku("run", app, "cat", "/app/version.txt")

    assert run.code != 0
    assert f"Refusing to run a command in dokku/{app}:latest: its migrations never finished" in run.output
    assert "v2" not in run.stdout


def test_dokku_run_after_the_migrations_runs_the_new_code(pre_deploy_host, images):
    host = pre_deploy_host
    app = new_app(host, database=False)
    assert host.dokku("git:from-image", app, images.node_app("cron", "v2", {}, scripts=NOTHING)).code == 0

    run = host.dokku("run", app, "cat", "/app/version.txt")

    assert run.code == 0, run.output
    assert run.stdout.strip().endswith("v2")


# --- route 5: the plugin's name --------------------------------------------------------------------
@pytest.fixture(scope="module")
def misnamed_host(docker_available):
    """`dokku plugin:install URL --name zz-migrations`: plugn enables it under that name."""
    host = Host("0.38.27", name="zz-migrations")
    yield host
    host.cleanup()


def test_install_refuses_a_name_sorting_after_the_scheduler_and_says_how_to_reinstall(misnamed_host):
    result = misnamed_host.install()

    assert result.code == 1, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(" !     dokku-migrations cannot work installed as 'zz-migrations': Dokku runs plugins "
                           "in name order, and 'zz-migrations' comes after 'scheduler-docker-local'")
    assert line.endswith("sudo dokku plugin:uninstall zz-migrations && sudo dokku plugin:install "
                         "<the URL you installed it from> --name migrations")


def test_under_such_a_name_a_deploy_is_refused_before_anything_starts(misnamed_host, images):
    host = misnamed_host
    app = new_app(host, database=False)

    deploy = host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=NOTHING))

    assert deploy.code != 0
    assert "dokku-migrations cannot work installed as 'zz-migrations'" in deploy.output
    assert host.web_containers(app) == []
