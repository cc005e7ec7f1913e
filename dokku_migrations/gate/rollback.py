"""When a deploy fails after its migrations succeeded (checks fail, the web process crashes), the old
code keeps serving against the new schema. This module knows when that is the case, says so, and
runs the project's down migration on request — never by itself.

Why never by itself: Dokku gives no reliable signal that a deploy failed after its release. Its
only failure hook, `builds-record-finalize`, is internal and undocumented, does not fire when a
deploy is cancelled or killed, and reports a failure even when the new image went live and only
a `post-deploy` hook failed afterwards — a down migration run then would drop the schema under
live code. So the plugin says so (at the end of the failed deploy where Dokku calls that hook, and
always in `migrations:report` and `migrations:history`), and `migrations:rollback` does the rest.
"""

from typing import Optional, Tuple

from dokku_migrations.common import output
from dokku_migrations.common.errors import UserError
from dokku_migrations.context import Context
from dokku_migrations.docker.image import ImageInfo
from dokku_migrations.gate import policy as gates
from dokku_migrations.gate.history import ROLLBACK, SUCCEEDED, Run
from dokku_migrations.run.manifest import ROLLBACK_RULES, detect, parse_rule


def ahead(ctx: Context, app: str) -> Optional[Run]:
    """The run whose migrations the schema holds while its image never went live, if any."""
    return gates.ahead_of_code(ctx.gate, app, ctx.history.runs(app), ctx.docker.deployed_image_ids(app))


def ahead_message(app: str, run: Run) -> str:
    change = f" ({run.schema_change})" if run.schema_changed else ""
    return (f"Run {run.id} applied the migrations of an image that never went live{change}: the schema of {app} is "
            f"ahead of the running code. Undo them with 'dokku migrations:rollback {app}', or deploy a fixed image")


def image_of(ctx: Context, app: str, run: Run) -> ImageInfo:
    """The image that applied the run's migrations: its down migrations are in it, not in the old code."""
    for image_id in run.image_ids:
        info = ctx.docker.inspect_image(image_id)
        if info is not None:
            return info
    raise UserError(f"The image that applied run {run.id}'s migrations is gone (Dokku removes an app's unused "
                    f"images at each build): undo them by hand, or deploy a fixed image")


def command_for(ctx: Context, app: str, image: ImageInfo) -> Tuple[str, str]:
    """The rollback command and where it came from: the setting, else the project's app.json."""
    settings = ctx.settings.resolved(app)
    value, scope = settings.values["rollback-command"]
    if value:
        return value, f"{scope} setting 'rollback-command'"
    found = detect([parse_rule(rule) for rule in ROLLBACK_RULES], image.workdir,
                   lambda paths: ctx.docker.read_file(image.ref, paths, app),
                   otherwise=f"set the rollback command with 'dokku migrations:set {app} rollback-command ...'")
    if found is None:
        raise UserError(f"No rollback command for {app}: declare one in the project's app.json "
                        f"({{\"migrations\": {{\"rollback\": \"npm run migrate:down\"}}}}) or set one with "
                        f"'dokku migrations:set {app} rollback-command \"npm run migrate:down\"'")
    return found.command, found.source


def refuse_serving(ctx: Context, app: str, image: ImageInfo) -> None:
    """The image serving right now is the code its down migration would pull the schema from under."""
    if image.id in ctx.docker.deployed_image_ids(app):
        raise UserError(f"Refusing to roll back {app} with {image.ref}: it is the image serving {app} right now, and "
                        f"its down migration would drop the schema under the running code. Deploy a fixed image, "
                        f"or run the down migration by hand with 'dokku run {app} <command>'")


def refuse_unchanged(ctx: Context, app: str, image: ImageInfo) -> None:
    """An image whose runs were all seen to change nothing applied no migration: its down command
    would undo the newest migration there is — one the serving code relies on."""
    runs = [run for run in ctx.history.runs(app) if run.trigger != ROLLBACK and run.status == SUCCEEDED
            and image.id in run.image_ids]
    if runs and all(run.schema_changed is False for run in runs):
        shown = ", ".join(str(run.id) for run in reversed(runs))
        raise UserError(f"Refusing to roll back {app} with {image.ref}: its {'runs' if len(runs) > 1 else 'run'} "
                        f"({shown}) changed nothing in the database (schema and migration records as before), so "
                        f"its down migration would undo a migration of the code that is serving. Nothing of this "
                        f"image's to undo: deploy a fixed image")


def unobserved_warning(run: Run) -> str:
    return (f"Could not tell whether run {run.id} changed the database ({run.schema_note or 'it was not observed'}): "
            f"check 'dokku migrations:logs {run.app} {run.id}' shows migrations applied before rolling back")


def run_rollback(ctx: Context, app: str, image_ref: str, dry_run: bool) -> None:
    """`migrations:rollback`: the same container, config, locks, history, timeout and secrets as a
    migration; on success the image is marked rolled back, so restarts never start it again."""
    from dokku_migrations.run.migrate import Request, execute
    if not image_ref:
        run = ahead(ctx, app)
        if run is None:
            raise UserError(f"Nothing to roll back for {app}: the last migrations that ran belong to an image that "
                            f"went live (see 'dokku migrations:history {app}'); to undo another image's, name it "
                            f"with --image")
        image_ref = image_of(ctx, app, run).id
        if run.schema_changed is None:
            output.warn(unobserved_warning(run))
        doing = "Would roll back" if dry_run else "Rolling back"
        change = f": {run.schema_change}" if run.schema_changed else ""
        output.info1(f"{doing} run {run.id} of {app}{change}, from the image that applied it ({image_ref[:19]})")
    image = ctx.docker.inspect_image(image_ref)
    if image is None:
        raise UserError(f"Image {image_ref} does not exist on this host")
    refuse_serving(ctx, app, image)
    refuse_unchanged(ctx, app, image)
    command, source = command_for(ctx, app, image)
    execute(ctx, Request(app=app, image=image_ref, trigger=ROLLBACK, dry_run=dry_run, own_image_only=True,
                         command=command, source=source))
