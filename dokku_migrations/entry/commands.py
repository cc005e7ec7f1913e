"""`dokku migrations:*` commands: each parses with `cli`, then does one thing."""

import json
import sys
from typing import Dict, List, Mapping, Sequence, Tuple

from dokku_migrations.common import output
from dokku_migrations.common.errors import Interrupted, UserError
from dokku_migrations.common.rules import valid_app_name
from dokku_migrations.dokku.host import check_app_name
from dokku_migrations.entry.cli import (
    SUMMARY,
    Parsed,
    app_from,
    help_text,
    no_extra,
    output_format,
    positive_int,
    split,
)
from dokku_migrations.gate.history import Run, iso
from dokku_migrations.gate.policy import migrated_value
from dokku_migrations.run.migrate import Context, Request, execute
from dokku_migrations.run.settings import GLOBAL, KEYS, key_named


def app_and_image(ctx: Context, argv: Sequence[str], env: Mapping[str, str], command: str,
                  bare: Sequence[str] = ()) -> Tuple[Parsed, str, str, str]:
    """`<app> [--image IMAGE]`: the app (checked, existing), the image (the app's latest unless one is
    named) and what to say if the app has no latest yet ("" when the image was named)."""
    parsed = split(argv, valued=["--image"], bare=bare)
    app = check_app_name(app_from(parsed, env.get("DOKKU_APP_NAME")))
    no_extra(parsed)
    ctx.dokku.require_app(app)
    image = parsed.flags.get("--image") or f"{ctx.dokku.image_repo(app)}:latest"
    never_deployed = "" if "--image" in parsed.flags else (
        f"App {app} has no deployed image yet: deploy it first, or name one with "
        f"'dokku {command} {app} --image IMAGE'")
    return parsed, app, image, never_deployed


def run(ctx: Context, argv: Sequence[str], env: Mapping[str, str]) -> None:
    parsed, app, image, never_deployed = app_and_image(ctx, argv, env, "migrations:run", bare=["--dry-run"])
    execute(ctx, Request(app=app, image=image, trigger="migrations:run", dry_run="--dry-run" in parsed.flags,
                         missing_image=never_deployed, own_image_only="--image" in parsed.flags))


def preflight(ctx: Context, argv: Sequence[str], env: Mapping[str, str]) -> None:
    """The image a deploy would migrate (or --image), proven on a copy of the production schema."""
    parsed, app, image, never_deployed = app_and_image(ctx, argv, env, "migrations:preflight")
    from dokku_migrations.common.lock import run_lock
    from dokku_migrations.run import migrate
    from dokku_migrations.run import preflight as preflights
    from dokku_migrations.run.plan import RUN
    request = Request(app=app, image=image, trigger="migrations:preflight", missing_image=never_deployed,
                      own_image_only="--image" in parsed.flags)
    info = migrate.inspect(ctx, request)
    settings = ctx.settings.resolved(app)
    plan = migrate.plan_for(ctx, request, info, settings)
    if plan.action != RUN:
        output.info1(f"No migrations to pre-flight for {app}: {plan.reason}")
        return
    prepared = migrate.prepare(ctx, request, info, plan.command, settings, 0)
    with run_lock(ctx.history.lock_path(app), app):
        output.info1(f"Pre-flight for {app}: {plan.command} on a copy of the production schema")
        output.verbose(f"from {plan.source} in {image}")
        try:
            preflights.prove(ctx, app, info, prepared.kind, plan.command, prepared.spec.args, prepared.values,
                             prepared.database, settings, output.IndentedStream(sys.stdout.buffer))
        except Interrupted as error:
            raise UserError(f"Interrupted by {error.signame} during the pre-flight: its throwaway database and "
                            "containers were removed, and production was not touched", error.exit_code) from None


def rollback(ctx: Context, argv: Sequence[str], env: Mapping[str, str]) -> None:
    parsed = split(argv, valued=["--image"], bare=["--dry-run"])
    app = check_app_name(app_from(parsed, env.get("DOKKU_APP_NAME")))
    no_extra(parsed)
    ctx.dokku.require_app(app)
    from dokku_migrations.gate.rollback import run_rollback
    run_rollback(ctx, app, parsed.flags.get("--image", ""), "--dry-run" in parsed.flags)


def set_(ctx: Context, argv: Sequence[str], env: Mapping[str, str]) -> None:
    parsed = split(argv, valued=[], bare=["--global"])
    scope = GLOBAL if "--global" in parsed.flags else check_app_name(app_from(parsed, env.get("DOKKU_APP_NAME")))
    if scope != GLOBAL:
        ctx.dokku.require_app(scope)
    if not parsed.words:
        raise UserError(f"Please specify a setting: one of {', '.join(KEYS)}")
    name = key_named(parsed.words.pop(0))
    values = parsed.words
    if len(values) > 1 and name.name != "detect":
        raise UserError(f"Too many values for {name.name}: quote a value that has spaces")
    where = "globally" if scope == GLOBAL else f"for {scope}"
    if not values:
        ctx.settings.set(scope, name.name, None)
        output.info1(f"Unset {name.name} {where}")
        return
    stored = ctx.settings.set(scope, name.name, "\n".join(values))
    output.info1(f"Set {name.name} to {shown(stored or '')} {where}")


def shown(value: str) -> str:
    return "; ".join(value.split("\n"))


def report_rows(ctx: Context, app: str) -> Dict[str, str]:
    """Every value `:report` knows for one app, keyed without the `--migrations-` prefix."""
    resolved = ctx.settings.resolved(app)
    app_values = ctx.settings.read(app)
    global_values = ctx.settings.read(GLOBAL)
    rows: Dict[str, str] = {}
    for name in KEYS:
        rows[name] = app_values.get(name, "")
        rows[f"global-{name}"] = global_values.get(name, "")
        rows[f"computed-{name}"] = resolved.get(name)
    last = next(iter(ctx.history.runs(app, limit=1)), None)
    rows["last-run-id"] = str(last.id) if last else ""
    rows["last-run-status"] = last.status if last else ""
    rows["last-run-at"] = iso(last.started_at) if last else ""
    last_deploy = next((run for run in ctx.history.runs(app) if run.deploy), None)
    rows["also-run-by-dokku"] = last_deploy.dokku_tasks if last_deploy else ""
    latest = ctx.docker.inspect_image(f"{ctx.dokku.image_repo(app)}:latest")
    rows["latest-image-migrated"] = migrated_value(ctx.gate.record(app, latest.id)) if latest else ""
    from dokku_migrations.gate.rollback import ahead
    behind = ahead(ctx, app)
    rows["schema-ahead"] = "true" if behind else "false"
    rows["schema-ahead-run"] = str(behind.id) if behind else ""
    return rows


def global_rows(ctx: Context) -> Dict[str, str]:
    values = ctx.settings.read(GLOBAL)
    return {f"global-{name}": values.get(name, "") for name in KEYS}


def report(ctx: Context, argv: Sequence[str], env: Mapping[str, str]) -> None:
    parsed = split(argv, valued=["--format"], bare=["--global"], prefix_bare="--migrations-")
    fmt = output_format(parsed, ["stdout", "json"])
    wanted = [flag for flag in parsed.flags if flag.startswith("--migrations-")]
    if "--global" in parsed.flags:
        no_extra(parsed)
        print_report(ctx, "--global", global_rows(ctx), fmt, wanted)
        return
    if parsed.words or env.get("DOKKU_APP_NAME") or "--app" in parsed.flags:
        app = check_app_name(app_from(parsed, env.get("DOKKU_APP_NAME")))
        no_extra(parsed)
        ctx.dokku.require_app(app)
        apps = [app]
    else:
        apps = list_apps(ctx)
        if not apps:
            output.warn("You haven't deployed any applications yet")
            return
    for app in apps:
        print_report(ctx, app, report_rows(ctx, app), fmt, wanted)


def print_report(ctx: Context, subject: str, rows: Dict[str, str], fmt: str, wanted: List[str]) -> None:
    if wanted:
        if len(wanted) > 1:
            raise UserError("Give one --migrations-<key> flag at a time")
        key = wanted[0][len("--migrations-"):]
        if key not in rows:
            raise UserError(f"{wanted[0]} is not available for {subject}")
        print(output.printable(shown(rows[key])))
        return
    if fmt == "json":
        print(json.dumps({key: value for key, value in rows.items()}, sort_keys=True))
        return
    title = "global" if subject == "--global" else subject
    output.info2(f"{title} migrations information")
    labels = {key: "Migrations " + key.replace("-", " ") + ":" for key in rows}
    width = max(len(label) for label in labels.values()) + 1
    for key, value in rows.items():
        print(output.VERBOSE + labels[key].ljust(width) + output.printable(shown(value)))


def list_apps(ctx: Context) -> List[str]:
    root = ctx.dokku.root
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and valid_app_name(p.name))


def history(ctx: Context, argv: Sequence[str], env: Mapping[str, str]) -> None:
    parsed = split(argv, valued=["--limit", "--format"], bare=[])
    app = check_app_name(app_from(parsed, env.get("DOKKU_APP_NAME")))
    no_extra(parsed)
    ctx.dokku.require_app(app)
    limit = positive_int("--limit", parsed.flags["--limit"]) if "--limit" in parsed.flags else 20
    fmt = output_format(parsed, ["stdout", "json"])
    runs = list(ctx.history.runs(app, limit=limit))
    if fmt == "json":
        print(json.dumps([r.as_json() for r in runs]))
        return
    if not runs:
        output.info1(f"No migration runs recorded for {app} yet")
        return
    output.info2(f"{app} migration runs, newest first")
    changes = [database_column(r) for r in runs]
    width = max(len("DATABASE"), *(len(change) for change in changes))
    header = (f"{'ID':>5}  {'STARTED (UTC)':<20}  {'TRIGGER':<19}  {'STATUS':<11}  {'EXIT':>4}  {'TIME':>8}  "
              f"{'DATABASE':<{width}}  COMMAND")
    print(output.VERBOSE + header)
    for r, change in zip(runs, changes):
        exit_code = "" if r.exit_code is None else str(r.exit_code)
        duration = "" if r.duration is None else f"{r.duration:.1f}s"
        attempts = f" ({len(r.attempts)} attempts: the run was tried again after a lock timeout)" \
            if len(r.attempts) > 1 else ""
        print(output.VERBOSE + output.printable(f"{r.id:>5}  {iso(r.started_at):<20}  {r.trigger:<19}  "
                                                f"{r.status:<11}  {exit_code:>4}  {duration:>8}  "
                                                f"{change:<{width}}  {r.command or '-'}{attempts}"))
    schema_ahead_note(ctx, app)


def database_column(run: Run) -> str:
    """What the run changed in the database: its summary, "unchanged", "not observed", or nothing
    for a run that never reached a migration (skipped, or recorded before the plugin observed)."""
    if run.schema_changed is None:
        return "not observed" if run.schema_note else ""
    return run.schema_change or ("changed" if run.schema_changed else "unchanged")


def schema_ahead_note(ctx: Context, app: str) -> None:
    """The history is the run records and needs no Docker; whether the schema is ahead does (the
    serving containers settle whether an image went live). With Docker unreachable the table stands
    and one line says the check was skipped: the gate's records alone miss an image that served
    without `post-deploy` marking it, and a false "ahead" points at `migrations:rollback`, which would
    drop the schema under live code. Said as not checked, not as fine."""
    from dokku_migrations.docker.engine import Unreachable
    from dokku_migrations.gate.policy import Unreadable
    from dokku_migrations.gate.rollback import ahead, ahead_message
    try:
        behind = ahead(ctx, app)
    except Unreachable:
        output.verbose("Docker is not reachable, so whether the schema is ahead of the running code was not "
                       f"checked: see 'dokku migrations:report {app} --migrations-schema-ahead' once it is back")
        return
    except Unreadable as error:  # the table stands; what the gate cannot tell is said, as a failure
        output.warn(error.message)
        return
    if behind is not None:
        output.warn(ahead_message(app, behind))


def logs(ctx: Context, argv: Sequence[str], env: Mapping[str, str]) -> None:
    parsed = split(argv, valued=[], bare=[])
    app = check_app_name(app_from(parsed, env.get("DOKKU_APP_NAME")))
    ctx.dokku.require_app(app)
    run_id = positive_int("The run id", parsed.words.pop(0)) if parsed.words else ctx.history.latest_id(app)
    no_extra(parsed)
    if not run_id:
        raise UserError(f"No migration runs recorded for {app} yet")
    record = ctx.history.load(app, run_id)
    if record is None:
        raise UserError(f"Run {run_id} of {app} is not in the history: see 'dokku migrations:history {app}'")
    exit_part = "" if record.exit_code is None else f", exit {record.exit_code}"
    output.info2(f"{app} run {record.id} ({record.status}{exit_part}) at {iso(record.started_at)}: "
                 f"{record.command or '-'}")
    if record.message:
        output.verbose(record.message)
    path = ctx.history.log_path(app, run_id)
    try:
        with open(path, "rb") as log:
            sys.stdout.flush()
            shown = output.IndentedStream(sys.stdout.buffer)  # as the deploy showed it: controls shown, not obeyed
            while True:
                chunk = log.read(65536)
                if not chunk:
                    break
                shown.write(chunk)
            shown.finish()
    except FileNotFoundError:
        if record.status not in ("skipped", "error"):
            output.verbose("(no output was recorded)")


def help_(ctx: Context, argv: Sequence[str], env: Mapping[str, str]) -> None:
    if argv[0] == "help":
        print(f"    migrations, {SUMMARY}")
        return
    print(help_text())


COMMANDS = {
    "help": help_,
    "migrations": help_,
    "migrations:help": help_,
    "migrations:run": run,
    "migrations:rollback": rollback,
    "migrations:preflight": preflight,
    "migrations:set": set_,
    "migrations:report": report,
    "migrations:history": history,
    "migrations:logs": logs,
}
