"""Dokku triggers: the deploy hooks, the gate's watch on what is built, started and goes live, and
the app and plugin lifecycle (rename, clone, delete, uninstall).

`scheduler-deploy`, `scheduler-run` and `post-deploy` run on every restart, scale, `dokku run` and cron
job of every app, so they import only the standard library and the plugin's own stdlib-only modules:
they must keep working (and stay fast) even when the plugin's environment is broken.
"""

import os
from typing import Mapping, Sequence

from dokku_migrations.common import output
from dokku_migrations.common.errors import UserError
from dokku_migrations.common.paths import LEGACY_HOOK, PLUGIN_DIR
from dokku_migrations.context import Context
from dokku_migrations.dokku.host import check_app_name
from dokku_migrations.dokku.order import misnamed
from dokku_migrations.dokku.versions import dokku_version, pre_deploy_runs_migrations
from dokku_migrations.gate import policy as gates

BROKEN_ENV = "DOKKU_MIGRATIONS_BROKEN_ENV"  # set by bin/run: the system Python stands in for the plugin's own


def post_build(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """Dokku 0.32.0 and later: every builder (dockerfile — `git:from-image` and `git:load-image` build a
    Dockerfile too —, herokuish, pack, nixpacks, railpack, lambda) fires this once its build has tagged
    `dokku/<app>:latest`, the earliest trigger all of them pass with the new image: it is recorded
    pending, so anything that stops the release before its migrations ran (a failed app.json predeploy,
    builds:cancel, another plugin failing first) leaves it refused. Before this trigger the image has
    no record, and is refused all the same (policy.refusal)."""
    app = check_app_name(expect(args, 2, "BUILDER_TYPE APP SOURCECODE_WORK_DIR")[1])
    info = ctx.docker.inspect_image(f"{ctx.dokku.image_repo(app)}:latest")
    if info is not None:
        ctx.gate.mark(app, info.id, gates.PENDING)


def pre_release_builder(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """Dokku 0.32.0 and later: every release, before the release image is labelled."""
    builder_type, app, image = expect(args, 3, "BUILDER_TYPE APP IMAGE")
    release(ctx, check_app_name(app), image, "pre-release-builder", env)


def pre_deploy(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """The `pre-deploy` link: the deploy hook of Dokku 0.25.1–0.31.x. Where Dokku also fires
    `pre-release-builder` the migrations have already run, and the link is a leftover of an install on
    an older Dokku (a Dokku upgrade never re-runs `install`): it stands aside and says how to remove it."""
    app, image_tag = expect(args, 2, "APP IMAGE_TAG")
    app = check_app_name(app)
    version = dokku_version(ctx.dokku.lib_root)
    last = next(iter(ctx.history.runs(app, limit=1)), None)
    if not pre_deploy_runs_migrations(version, last.trigger if last else ""):
        fix = ("remove it with 'sudo dokku plugin:install'" if version else
               f"Dokku's version is unknown here, so install keeps it: remove it with 'sudo rm {LEGACY_HOOK}'")
        output.warn(f"dokku-migrations ran this release's migrations from pre-release-builder; its pre-deploy link "
                    f"is left from an install on Dokku older than 0.32.0 (Dokku 0.34.4 and later warn about it): {fix}")
        ctx.gate.release_recorded(app)
        return
    release(ctx, app, f"{ctx.dokku.image_repo(app)}:{image_tag}", "pre-deploy", env)


def release(ctx: Context, app: str, image: str, trigger: str, env: Mapping[str, str]) -> None:
    """A release's migrations, unless the plugin cannot guard it (then it fails closed)."""
    wrong_name = misnamed(PLUGIN_DIR)
    if wrong_name:
        refuse_release(ctx, app, image, wrong_name)
    if env.get(BROKEN_ENV):
        refuse_release(ctx, app, image, BROKEN_RELEASE)
    from dokku_migrations.run.migrate import Request, execute
    execute(ctx, Request(app=app, image=image, trigger=trigger))


BROKEN_RELEASE = ("dokku-migrations' Python environment is missing or broken on this host, so this release's "
                  "migrations cannot run: run 'sudo dokku plugin:install' to repair it, then deploy again")


def refuse_release(ctx: Context, app: str, image: str, why: str) -> None:
    """The plugin cannot guard this release (its environment is broken, or its name puts it after the
    scheduler): the release stops (fail closed), its image is recorded as never migrated and `latest`
    points back at the serving image (gate.close), so restarts keep serving what serves."""
    info = ctx.docker.inspect_image(image)
    if info is not None:
        note = gates.close(ctx.gate, ctx.docker, app, ctx.dokku.image_repo(app), info.id, gates.PENDING)
        ctx.gate.release_recorded(app)
        if note:
            output.info1(note)
    raise UserError(why)


def post_release_builder(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """The release rebuilt the image with Dokku's labels (a new id for herokuish images always, for
    the others on a first release): its record — pending, migrated, failed — moves with it, but only
    onto an image built on the one whose migrations ran. Dokku rebuilds `FROM dokku/<app>:latest` by
    name, and a `config:set` release (which takes no deploy lock) can find that tag moved by a `git push`
    whose own run its migration's lock refused: its release image is then the push's unmigrated code.
    That image is refused and `latest` points back at the serving image, which the release then starts."""
    builder_type, app, image = expect(args, 3, "BUILDER_TYPE APP IMAGE")
    app = check_app_name(app)
    last = next(iter(ctx.history.runs(app, limit=1)), None)
    if last is None or last.trigger != "pre-release-builder" or last.image != image:
        return
    record = ctx.gate.record(app, last.image_id)
    released = ctx.docker.inspect_image(image)
    if record is None or released is None or released.id == last.image_id:
        return
    migrated = ctx.docker.inspect_image(last.image_id)
    if migrated is not None and gates.derives_from(ctx.docker, released, migrated):
        ctx.gate.mark(app, released.id, record.status)
        last.released_image_id = released.id
        ctx.history.save(last)
        return
    if ctx.dokku.deploy_in_progress(app):
        # a push that tagged latest and has not reached its release yet owns it: its release migrates
        # this image's code, so latest stays; only this image is refused, and the app keeps serving
        ctx.gate.mark(app, released.id, gates.PENDING)
        output.warn(f"{image} was retagged while run {last.id} migrated another image, by a deploy of {app} still "
                    f"in progress: this release's image is built on that deploy's code, whose migrations have not "
                    f"run yet, so it is refused and {app} keeps serving; that deploy migrates and releases it")
        return
    repo = ctx.dokku.image_repo(app)
    note = gates.close(ctx.gate, ctx.docker, app, repo, released.id, gates.PENDING)
    output.warn(f"{image} was retagged while run {last.id} migrated another image (by a deploy whose migrations "
                f"did not run, such as one that run's lock refused): this release's image is built on it, so it is "
                f"refused. Deploy that code again once this release is done")
    if note:
        output.info1(note)


def scheduler_deploy(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """`ps:restart`, `ps:scale` and `dokku deploy` start an image here without any release trigger:
    refuse one whose migrations failed or never finished, or that never reached the plugin, before the
    scheduler starts it."""
    scheduler, app = expect(args, 2, "SCHEDULER APP IMAGE_TAG")[:2]
    app = check_app_name(app)
    if after_the_scheduler():
        return
    image = ctx.dokku.deploying_image(app, args[2] if len(args) > 2 else "")
    info = ctx.docker.inspect_image(image)
    if info is None:
        return
    reason = gates.refusal(ctx.gate, ctx.docker, app, info.id)
    if reason:
        raise UserError(refused("start", app, image, reason))


def scheduler_run(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """`dokku run`, `run:detached` and cron jobs (`cron:run`, which Dokku's crontab calls) start a
    one-off container of the image restarts would start (plugins/scheduler-docker-local/scheduler-run:
    `get_deploying_app_image_name`): during a deploy's migration, or after a release that stopped
    before them, that is code whose migrations have not run. The scheduler resolves that image itself
    and a plugin cannot hand it another (only by retagging `latest` under a deploy in progress, or
    printing a tag from `deployed-app-image-tag`, which every start reads): so the gate refuses it here
    too, in one line, and the job runs again at its next schedule."""
    scheduler, app = expect(args, 2, "SCHEDULER APP ENV_COUNT")[:2]
    app = check_app_name(app)
    if after_the_scheduler():
        return
    image = ctx.dokku.deploying_image(app, "")
    info = ctx.docker.inspect_image(image)
    if info is None:
        return
    reason = gates.refusal(ctx.gate, ctx.docker, app, info.id)
    if reason:
        raise UserError(refused("run a command in", app, image, reason))


def after_the_scheduler() -> bool:
    """Under a name sorting after the scheduler the containers have started already: say so, refuse nothing."""
    wrong_name = misnamed(PLUGIN_DIR)
    if wrong_name:
        output.warn(wrong_name)
    return bool(wrong_name)


def refused(doing: str, app: str, image: str, reason: str) -> str:
    """The one line of a refused start or run: why, and the next step."""
    if reason == gates.ROLLED_BACK:
        return (f"Refusing to {doing} {image}: its migrations were rolled back, so its code would run on an older "
                f"schema, and it never went live. Deploy a fixed image (see 'dokku migrations:history {app}')")
    why = {
        gates.PENDING: "its migrations never finished (its deploy stopped before they ended, or before they "
                       "started, or is running them right now: see that deploy's output)",
        gates.UNSEEN: "no release of it ever reached dokku-migrations (its build or release stopped before "
                      "the plugin saw it, or it was tagged by hand)",
    }.get(reason, "its migrations failed")
    return (f"Refusing to {doing} {image}: {why}, and it never went live. Deploy a fixed image, or apply its "
            f"migrations with 'dokku migrations:run {app}' and retry (see 'dokku migrations:history {app}')")


def post_deploy(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """Dokku's one signal that a deploy went live (after its checks, with the proxy switched): the
    images its deploy containers now run can never be refused later, and the newest is the one a
    failed re-release of the app, once stopped, points `latest` back at. The tag argument is not enough
    (empty for `dokku deploy`, `latest` under a registry), so the containers are asked."""
    app = check_app_name(expect(args, 1, "APP")[0])
    ctx.gate.went_live(app, ctx.docker.deployed_image_ids(app))


def builds_record_finalize(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """Dokku (0.38+) calls this internal hook as a release-and-deploy ends, with its exit code: the one
    moment to say, at the end of a failed deploy, that its migrations ran while its image never went
    live. Said once per run (Dokku may call it twice for one deploy). Never acts on it: see rollback.py."""
    app, _, exit_code = expect(args, 3, "APP BUILD_ID EXIT_CODE")
    if exit_code in ("", "0") or not env.get("DOKKU_BUILD_SOURCE"):
        return  # Dokku calls it from a captured build; migrations:run finalizes its own record without one
    from dokku_migrations.gate.rollback import ahead, ahead_message
    run = ahead(ctx, check_app_name(app))
    if run is not None and not run.ahead_reported:
        output.warn(ahead_message(app, run))
        run.ahead_reported = True
        ctx.history.save(run)


def post_delete(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    app = check_app_name(expect(args, 1, "APP")[0])
    ctx.settings.delete(app)
    ctx.history.delete(app)


def copy_setup(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """rename: copy now, Dokku's post-delete of the old name removes the old copy; clone: copy."""
    old, new = (check_app_name(name) for name in expect(args, 2, "OLD_APP NEW_APP"))
    ctx.settings.copy(old, new)
    ctx.history.copy(old, new)


def uninstall(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """`dokku plugin:uninstall NAME` (as root), fired in every plugin with the name of the one going:
    act only on this plugin's own name, its directory's (plugins/plugin/functions: `--name NAME`, else
    from the URL, `dokku-migrations.git` → `migrations`).

    Uninstalling removes what the plugin made: its settings and history (with every run's output),
    the `migrations-failed` image tags, and its lock files. Nothing guards restarts afterwards, so
    an app whose latest image is not known to be migrated is named first.
    """
    if expect(args, 1, "PLUGIN")[0] != os.path.basename(PLUGIN_DIR):
        return
    from dokku_migrations.setup.uninstall import remove_everything
    remove_everything(ctx)


def expect(args: Sequence[str], count: int, names: str) -> Sequence[str]:
    if len(args) < count:
        raise UserError(f"Expected trigger arguments {names}, got {len(args)}")
    return args[:count]


TRIGGERS = {
    "post-build": post_build,
    "pre-release-builder": pre_release_builder,
    "pre-deploy": pre_deploy,
    "post-release-builder": post_release_builder,
    "scheduler-deploy": scheduler_deploy,
    "scheduler-run": scheduler_run,
    "post-deploy": post_deploy,
    "builds-record-finalize": builds_record_finalize,
    "post-delete": post_delete,
    "post-app-rename-setup": copy_setup,
    "post-app-clone-setup": copy_setup,
    "uninstall": uninstall,
}
