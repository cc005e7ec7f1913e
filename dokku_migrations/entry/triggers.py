"""Dokku triggers: the deploy hooks, the gate's watch on what goes live, and the app and plugin
lifecycle (rename, clone, delete, uninstall).

`scheduler-deploy` and `post-deploy` run on every restart and scale of every app, so they import
only the standard library and the plugin's own stdlib-only modules: they must keep working (and
stay fast) even when the plugin's environment is broken.
"""

import os
from typing import Mapping, Sequence

from dokku_migrations.common import output
from dokku_migrations.common.errors import UserError
from dokku_migrations.common.paths import LEGACY_HOOK, PLUGIN_DIR
from dokku_migrations.context import Context
from dokku_migrations.dokku.host import check_app_name
from dokku_migrations.dokku.versions import dokku_version, pre_deploy_runs_migrations
from dokku_migrations.gate import policy as gates

BROKEN_ENV = "DOKKU_MIGRATIONS_BROKEN_ENV"  # set by bin/run: the system Python stands in for the plugin's own


def pre_release_builder(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """Dokku 0.32.0 and later: every release, before the release image is labelled."""
    builder_type, app, image = expect(args, 3, "BUILDER_TYPE APP IMAGE")
    app = check_app_name(app)
    if env.get(BROKEN_ENV):
        refuse_release(ctx, app, image)
    from dokku_migrations.run.migrate import Request, execute
    execute(ctx, Request(app=app, image=image, trigger="pre-release-builder"))


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
    image = f"{ctx.dokku.image_repo(app)}:{image_tag}"
    if env.get(BROKEN_ENV):
        refuse_release(ctx, app, image)
    from dokku_migrations.run.migrate import Request, execute
    execute(ctx, Request(app=app, image=image, trigger="pre-deploy"))


def refuse_release(ctx: Context, app: str, image: str) -> None:
    """bin/run found the plugin's environment broken: the release stops (fail closed), its image
    is recorded as never migrated and `latest` points back at the serving image (gate.close), so
    restarts keep serving what serves."""
    info = ctx.docker.inspect_image(image)
    if info is not None:
        note = gates.close(ctx.gate, ctx.docker, app, ctx.dokku.image_repo(app), info.id, gates.PENDING)
        ctx.gate.release_recorded(app)
        if note:
            output.info1(note)
    raise UserError("dokku-migrations' Python environment is missing or broken on this host, so this release's "
                    "migrations cannot run: run 'sudo dokku plugin:install' to repair it, then deploy again")


def post_release_builder(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """The release rebuilt the image with Dokku's labels (a new id for herokuish images always, for
    the others on a first release): its record — pending, migrated, failed — moves with it."""
    builder_type, app, image = expect(args, 3, "BUILDER_TYPE APP IMAGE")
    app = check_app_name(app)
    last = next(iter(ctx.history.runs(app, limit=1)), None)
    if last is None or last.trigger != "pre-release-builder" or last.image != image:
        return
    record = ctx.gate.record(app, last.image_id)
    released = ctx.docker.inspect_image(image)
    if record is not None and released is not None and released.id != last.image_id:
        ctx.gate.mark(app, released.id, record.status)
        last.released_image_id = released.id
        ctx.history.save(last)


def scheduler_deploy(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """`ps:restart`, `ps:scale` and `dokku deploy` start an image here without any release trigger:
    refuse one whose migrations failed or never finished, before the scheduler starts it."""
    scheduler, app = expect(args, 2, "SCHEDULER APP IMAGE_TAG")[:2]
    app = check_app_name(app)
    image = ctx.dokku.deploying_image(app, args[2] if len(args) > 2 else "")
    info = ctx.docker.inspect_image(image)
    if info is None:
        return
    record = ctx.gate.record(app, info.id)
    if record is None and gates.stopped_before_recorded(ctx.gate, ctx.docker, app, info.id):
        record = gates.Record(gates.PENDING)
    if gates.may_start(record):
        return
    if record is not None and record.status == gates.ROLLED_BACK:
        raise UserError(f"Refusing to start {image}: its migrations were rolled back, so its code would run on an "
                        f"older schema, and it never went live. Deploy a fixed image (see 'dokku migrations:history "
                        f"{app}')")
    why = ("its migrations never finished (its deploy stopped before they ended: see that deploy's output)"
           if record is not None and record.status == gates.PENDING else "its migrations failed")
    raise UserError(f"Refusing to start {image}: {why}, and it never went live. Deploy a fixed image, or apply "
                    f"them with 'dokku migrations:run {app}' and retry (see 'dokku migrations:history {app}')")


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
    "pre-release-builder": pre_release_builder,
    "pre-deploy": pre_deploy,
    "post-release-builder": post_release_builder,
    "scheduler-deploy": scheduler_deploy,
    "post-deploy": post_deploy,
    "builds-record-finalize": builds_record_finalize,
    "post-delete": post_delete,
    "post-app-rename-setup": copy_setup,
    "post-app-clone-setup": copy_setup,
    "uninstall": uninstall,
}
