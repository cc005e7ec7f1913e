"""Pre-flight: the incoming image's migration runs first on a copy of the production schema, in a
throwaway server of the database's own image on a private network; it reports what it sent and the
locks it takes, stops a `block` deploy that would fail before production is touched, and leaves
nothing behind whatever happens."""

import json
import os
import signal

import pytest

from .apps import create_table
from .conftest import service_of
from .host import docker, http_get, psql
from .recipes import (  # noqa: F401 (fixtures)
    DJANGO_MANAGE,
    DJANGO_MIGRATION,
    DJANGO_MODELS,
    DJANGO_SETTINGS,
    RAILS_APPLICATION,
    RAILS_BIN,
    RAILS_BOOT,
    RAILS_DATABASE_YML,
    RAILS_ENVIRONMENT,
    RAILS_GEMFILE,
    RAILS_MIGRATION,
    RAILS_RAKEFILE,
    app_json,
    recipe_deps,
    recipes,
)
from .test_faults import plugin_pid, run_finished, wait_for
from .test_try import MARIADB_MIGRATE

PREFLIGHT_LABEL = "com.dokku.migrations.preflight"
SCRIPTS = {"start": "node server.js", "migrate": "node-pg-migrate up"}
WIDGETS = {"1700000000001_widgets.js": create_table("widgets")}
ADD_PRICE = {**WIDGETS, "1700000000002_price.js": (
    "exports.up = (pgm) => { pgm.addColumn('widgets', { price: { type: 'integer', default: 0 } });\n"
    "  pgm.createIndex('widgets', 'name'); };\n")}
# Two migrations after v1's: the first commits (a new table), the second fails halfway (its first
# statement ran, its second fails; node-pg-migrate runs each file in a transaction of its own).
HALFWAY = {**WIDGETS, "1700000000002_gadgets.js": create_table("gadgets"),
           "1700000000003_broken.js": "exports.up = (pgm) => { pgm.sql('ALTER TABLE widgets ADD COLUMN x int');\n"
                                      "  pgm.sql('SELECT 1/0'); };\n"}
# Passes in production, where widgets has rows, fails on the copy, which has none: the pre-flight
# cannot tell data-dependent failures, and says so.
NEEDS_ROWS = {**WIDGETS, "1700000000002_needs_rows.js":
              "exports.up = (pgm) => { pgm.sql('SELECT 1 / count(*) FROM widgets'); };\n"}
HANGING = {**WIDGETS, "1700000000002_slow.js": "exports.up = (pgm) => { pgm.sql('SELECT pg_sleep(120)'); };\n"}


def preflight_left(app: str) -> str:
    """Containers and networks any pre-flight of the app started, still on the host."""
    containers = docker("container", "ls", "-aq", "--filter", f"label={PREFLIGHT_LABEL}={app}")
    networks = docker("network", "ls", "-q", "--filter", f"label={PREFLIGHT_LABEL}={app}")
    return (containers + " " + networks).strip()


def columns(app: str, table: str = "widgets") -> str:
    return psql(service_of(app), "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM "
                                 f"information_schema.columns WHERE table_name = '{table}'")


def tables(app: str) -> str:
    return psql(service_of(app), "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
                                 "WHERE schemaname = 'public'")


def live_with_widgets(host, images, app, mode: str = "block") -> None:
    """v1 deployed (widgets, one row), then the pre-flight turned on."""
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS, scripts=SCRIPTS)).code == 0
    psql(service_of(app), "INSERT INTO widgets (name) VALUES ('sprocket')")
    assert host.dokku("migrations:set", app, "preflight", mode).code == 0


def test_a_passing_pre_flight_reports_locks_and_lint_then_the_deploy_migrates_production(host, images, app):
    live_with_widgets(host, images, app)

    result = host.dokku("git:from-image", app, images.node_app("shop", "v2", ADD_PRICE, scripts=SCRIPTS))

    assert result.code == 0, result.output
    out = result.stdout
    assert f"-----> Pre-flight for {app}: npm run migrate on a copy of the production schema (block)" in out
    assert f"       Copied the schema of postgres database {service_of(app).replace('-', '_')} on " in out
    assert "(2 tables) into a throwaway dm-postgres:15 (the image of the container serving" in out
    assert "-----> Pre-flight passed in " in out
    assert ('         ALTER TABLE "widgets" ADD "price" integer DEFAULT ?\n'
            "           public.widgets: ACCESS EXCLUSIVE (blocks reads and writes), rewrites: no\n") in out
    assert ("           public.widgets: SHARE (blocks writes), rewrites: no; builds an index: reads the whole "
            "table\n") in out
    assert "           require-concurrent-index-creation: " in out
    assert "       A schema-only copy holds no rows: failures that depend on the data" in out
    assert out.index("Pre-flight passed") < out.index(f"Running migrations for {app}")
    assert columns(app) == "id,name,price"
    assert preflight_left(app) == ""


def test_block_stops_a_migration_that_fails_halfway_before_production_is_touched(host, images, app):
    live_with_widgets(host, images, app)

    result = host.dokku("git:from-image", app, images.node_app("shop", "v2", HALFWAY, scripts=SCRIPTS))

    assert result.code != 0
    assert "-----> Pre-flight failed after " in result.stdout
    assert result.failures[-1].startswith(f" !     Pre-flight of {app} failed on a copy of the production schema, "
                                          "which was removed; production was not touched: Migration command 'npm "
                                          "run migrate' failed with exit code 1")
    assert result.failures[-1].endswith(f"or let deploys go on despite a failed pre-flight with 'dokku "
                                        f"migrations:set {app} preflight warn'")
    assert f"Running migrations for {app}" not in result.stdout
    assert tables(app) == "pgmigrations,widgets" and columns(app) == "id,name"
    assert psql(service_of(app), "SELECT count(*) FROM pgmigrations") == "1"
    assert http_get(host.web_containers(app)[0]) == "v1"
    run = host.history(app)[0]
    assert run["status"] == "failed" and run["message"].startswith(f"Pre-flight of {app} failed")
    assert preflight_left(app) == ""


def test_warn_says_the_pre_flight_failed_and_the_deploy_goes_on(host, images, app):
    live_with_widgets(host, images, app, mode="warn")

    result = host.dokku("git:from-image", app, images.node_app("shop", "v2", NEEDS_ROWS, scripts=SCRIPTS))

    assert result.code == 0, result.output
    assert "division by zero" in result.stdout
    assert any(line.startswith(f" !     Pre-flight of {app} failed on a copy of the production schema") and
               line.endswith("; deploying anyway (preflight is warn)") for line in result.failures), result.output
    assert f"-----> Migrations for {app} succeeded in " in result.stdout
    assert psql(service_of(app), "SELECT count(*) FROM pgmigrations") == "2"
    assert http_get(host.web_containers(app)[0]) == "v2"


def test_migrations_preflight_proves_an_image_and_leaves_production_as_it_was(host, images, app):
    live_with_widgets(host, images, app, mode="off")
    image = host.app_image(app, images.node_app("shop", "v2", ADD_PRICE, scripts=SCRIPTS))

    result = host.dokku("migrations:preflight", app, "--image", image)

    assert result.code == 0, result.output
    assert f"-----> Pre-flight for {app}: npm run migrate on a copy of the production schema" in result.stdout
    assert f"       from /app/package.json $.scripts.migrate in {image}" in result.stdout
    assert "-----> Pre-flight passed in " in result.stdout
    assert "public.widgets: ACCESS EXCLUSIVE" in result.stdout
    assert columns(app) == "id,name"
    assert psql(service_of(app), "SELECT count(*) FROM widgets") == "1"
    assert psql(service_of(app), "SELECT count(*) FROM pgmigrations") == "1"
    assert preflight_left(app) == ""


def test_migrations_preflight_of_a_failing_image_exits_non_zero_in_one_line(host, images, app):
    live_with_widgets(host, images, app, mode="off")
    image = host.app_image(app, images.node_app("shop", "v2", HALFWAY, scripts=SCRIPTS))

    result = host.dokku("migrations:preflight", app, "--image", image)

    assert result.code == 1
    assert len(result.failures) == 1 and "Pre-flight of" in result.failures[0], result.output
    assert tables(app) == "pgmigrations,widgets"
    assert preflight_left(app) == ""


def test_no_client_image_stops_a_block_deploy_saying_what_to_pull(host, images, app):
    live_with_widgets(host, images, app)
    assert host.dokku("config:set", "--no-restart", app,
                      "REPORTING_URL=postgres://reader:secret-pw@reporting.invalid:5432/stats").code == 0
    assert host.dokku("migrations:set", app, "database-url-key", "REPORTING_URL").code == 0

    result = host.dokku("git:from-image", app, images.node_app("shop", "v2", ADD_PRICE, scripts=SCRIPTS))

    assert result.code != 0
    assert (f" !     The pre-flight could not copy the schema: no image with a postgres client was found for "
            f"reporting.invalid: pull one ('docker pull postgres:16') or name one ('dokku migrations:set {app} "
            "database-image postgres:16')") in result.failures[-1]
    assert "secret-pw" not in result.output
    assert columns(app) == "id,name"
    assert preflight_left(app) == ""


def test_an_unreachable_database_stops_a_block_deploy_and_leaves_nothing(host, images, app):
    live_with_widgets(host, images, app)
    assert host.dokku("config:set", "--no-restart", app,
                      "REPORTING_URL=postgres://reader:secret-pw@reporting.invalid:5432/stats").code == 0
    assert host.dokku("migrations:set", app, "database-url-key", "REPORTING_URL").code == 0
    assert host.dokku("migrations:set", app, "database-image", "dm-postgres:15").code == 0

    result = host.dokku("git:from-image", app, images.node_app("shop", "v2", ADD_PRICE, scripts=SCRIPTS))

    assert result.code != 0
    assert result.failures[-1].startswith(" !     The pre-flight could not copy the schema: postgres database stats "
                                          "on reporting.invalid:5432 did not answer the dump: "), result.output
    assert result.failures[-1].endswith(f"Deploys of {app} stop while its pre-flight cannot run (preflight is block): "
                                        f"fix that, or let them go on with 'dokku migrations:set {app} preflight warn'")
    assert "reporting.invalid" in result.failures[-1] and "secret-pw" not in result.output
    assert columns(app) == "id,name"
    assert preflight_left(app) == ""


def test_a_pre_flight_that_times_out_stops_the_deploy_and_its_migration_could_not_reach_production(
        host, images, app):
    live_with_widgets(host, images, app)
    assert host.dokku("migrations:set", app, "timeout", "30").code == 0
    deploy = host.spawn("git:from-image", app, images.node_app("shop", "v2", HANGING, scripts=SCRIPTS))

    def copy_migration():
        found = docker("container", "ls", "-q", "--filter", f"label={PREFLIGHT_LABEL}={app}",
                       "--filter", "label=com.dokku.migrations.preflight-session",
                       "--filter", f"ancestor=dokku/{app}:latest").split()
        return found[0] if found else ""

    cid = wait_for("the migration on the copy", copy_migration, timeout=120)
    inspected = json.loads(docker("container", "inspect", cid))[0]
    [network] = inspected["NetworkSettings"]["Networks"]
    internal = json.loads(docker("network", "inspect", network))[0]["Internal"]
    out, _ = deploy.communicate(timeout=180)

    assert inspected["HostConfig"]["Links"] is None and inspected["Mounts"] == []
    assert network.startswith("dm-preflight-") and internal is True
    assert deploy.returncode != 0
    assert "Migrations timed out after 30s and were stopped with SIGTERM" in out, out
    assert f"Running migrations for {app}" not in out
    assert psql(service_of(app), "SELECT count(*) FROM pgmigrations") == "1"
    assert preflight_left(app) == ""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGQUIT], ids=lambda s: s.name)
def test_a_signal_during_the_copy_removes_everything_and_stops_the_deploy(host, images, app, signum):
    live_with_widgets(host, images, app)
    deploy = host.spawn("git:from-image", app, images.node_app("shop", "v2", ADD_PRICE, scripts=SCRIPTS))
    wait_for("the throwaway server", lambda: preflight_left(app), timeout=120)

    os.killpg(deploy.pid, signum)  # Ctrl-C, a stop, `dokku builds:cancel`: to the deploy's process group
    out, _ = deploy.communicate(timeout=120)

    run = run_finished(host, app)  # the deploy's own output went with its tee, which the signal ended too

    assert deploy.returncode != 0
    assert "Pre-flight passed" not in out and f"Running migrations for {app}" not in out
    assert wait_for("nothing left", lambda: preflight_left(app) == "", timeout=30)
    assert columns(app) == "id,name"
    assert run["status"] == "interrupted"
    assert run["message"] == (f"Interrupted by {signum.name} during the pre-flight: its throwaway database and "
                              "containers were removed, and production was not touched")


def test_a_sigkilled_plugin_leaves_nothing_of_its_pre_flight_behind(host, images, app):
    live_with_widgets(host, images, app)
    deploy = host.spawn("git:from-image", app, images.node_app("shop", "v2", HANGING, scripts=SCRIPTS))
    wait_for("the throwaway server", lambda: docker("container", "ls", "-q", "--filter", "name=dm-preflight-",
                                                    "--filter", f"label={PREFLIGHT_LABEL}={app}"), timeout=120)

    os.kill(plugin_pid(app), signal.SIGKILL)
    deploy.communicate(timeout=120)

    # its reaper, a process of its own, removes the server, its network and the copy's migration
    assert wait_for("the pre-flight's containers and network to go", lambda: preflight_left(app) == "", timeout=60)
    assert columns(app) == "id,name"


def test_the_next_pre_flight_removes_what_a_killed_one_and_its_reaper_left(host, images, app):
    live_with_widgets(host, images, app, mode="off")
    left = [f"--label={PREFLIGHT_LABEL}={app}", "--label=com.dokku.migrations.preflight-session=0dead0"]
    docker("network", "create", *left, "dm-preflight-0dead0")
    docker("container", "create", *left, "--network=dm-preflight-0dead0", "--name=dm-preflight-0dead0-postgres",
           "dm-postgres:15")
    image = host.app_image(app, images.node_app("shop", "v2", ADD_PRICE, scripts=SCRIPTS))

    result = host.dokku("migrations:preflight", app, "--image", image)

    assert result.code == 0, result.output
    assert f"       Removed 2 left-overs of an earlier pre-flight of {app}\n" in result.stdout
    assert preflight_left(app) == ""


def test_without_squawk_the_pre_flight_reports_the_rest_and_says_once_how_to_get_it(host, images, app):
    live_with_widgets(host, images, app)
    squawk = host.plugin_dir / ".venv" / "bin" / "squawk"
    os.rename(squawk, squawk.with_name("squawk.aside"))
    try:
        result = host.dokku("git:from-image", app, images.node_app("shop", "v2", ADD_PRICE, scripts=SCRIPTS))
    finally:
        os.rename(squawk.with_name("squawk.aside"), squawk)

    assert result.code == 0, result.output
    assert result.output.count("squawk is not installed") == 1
    assert ("       squawk is not installed in the plugin's environment, so the statements were not linted: run "
            "'sudo dokku plugin:install' to install it") in result.stdout
    assert "public.widgets: ACCESS EXCLUSIVE" in result.stdout


# --- Django and Rails, on PostgreSQL ----------------------------------------------------------------------
DJANGO_0002 = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_initial")]
    operations = [
        migrations.AddField(model_name="note", name="title", field=models.CharField(default="", max_length=100)),
    ]
"""

RAILS_ADD_PRICE = """class AddPriceToWidgets < ActiveRecord::Migration[6.1]
  def change
    add_column :widgets, :price, :integer, default: 0, null: false
    add_index :widgets, :name
  end
end
"""


def django_files(extra):
    return {"app.json": app_json("python manage.py migrate --noinput"), "manage.py": DJANGO_MANAGE,
            "shop/__init__.py": "", "shop/settings.py": DJANGO_SETTINGS, "notes/__init__.py": "",
            "notes/models.py": DJANGO_MODELS, "notes/migrations/__init__.py": "",
            "notes/migrations/0001_initial.py": DJANGO_MIGRATION, **extra}


def rails_files(extra):
    return {"app.json": app_json("bin/rails db:migrate"), "Gemfile": RAILS_GEMFILE, "Rakefile": RAILS_RAKEFILE,
            "config/boot.rb": RAILS_BOOT, "config/application.rb": RAILS_APPLICATION,
            "config/environment.rb": RAILS_ENVIRONMENT, "config/database.yml": RAILS_DATABASE_YML,
            "bin/rails": RAILS_BIN, "db/migrate/20240101000000_create_widgets.rb": RAILS_MIGRATION, **extra}


def test_a_django_migration_is_proven_on_the_copy_with_its_locks(host, recipes, app):
    assert host.dokku("git:from-image", app, recipes.django()).code == 0
    assert host.dokku("migrations:set", app, "preflight", "block").code == 0
    v2 = recipes._on("dm-django:3.2", "django-v2", django_files({"notes/migrations/0002_title.py": DJANGO_0002}),
                     'ENV PYTHONUNBUFFERED=1\nCMD ["python", "-m", "http.server", "5000"]\n')

    result = host.dokku("git:from-image", app, v2)

    assert result.code == 0, result.output
    out = result.stdout
    assert "       Applying notes.0002_title... OK" in out[:out.index("-----> Pre-flight passed")]
    assert ('         ALTER TABLE "notes_note" ADD COLUMN "title" varchar(?) DEFAULT ? NOT NULL\n'
            "           public.notes_note: ACCESS EXCLUSIVE (blocks reads and writes), rewrites: no\n") in out, out
    assert "           public.django_content_type: ROW EXCLUSIVE" in out  # Django's post_migrate writes
    assert psql(service_of(app), "SELECT count(*) FROM django_migrations WHERE name = '0002_title'") == "1"
    assert preflight_left(app) == ""


def test_a_rails_migration_is_proven_on_the_copy_with_its_locks(host, recipes, app):
    assert host.dokku("git:from-image", app, recipes.rails()).code == 0
    assert host.dokku("migrations:set", app, "preflight", "block").code == 0
    steps = "RUN chmod +x bin/rails\nENV RAILS_ENV=production\nCMD [\"ruby\", \"-run\", \"-e\", \"httpd\", \".\"]\n"
    v2 = recipes._on("dm-rails:6.1", "rails-v2",
                     rails_files({"db/migrate/20240102000000_add_price_to_widgets.rb": RAILS_ADD_PRICE}), steps)

    result = host.dokku("git:from-image", app, v2)

    assert result.code == 0, result.output
    out = result.stdout
    assert "== 20240102000000 AddPriceToWidgets: migrated" in out[:out.index("-----> Pre-flight passed")]
    assert "public.widgets: ACCESS EXCLUSIVE (blocks reads and writes), rewrites: no" in out, out
    assert "public.widgets: SHARE (blocks writes), rewrites: no; builds an index" in out
    assert psql(service_of(app), "SELECT count(*) FROM schema_migrations") == "2"
    assert preflight_left(app) == ""


# --- MariaDB ------------------------------------------------------------------------------------------------
MARIADB_WIDGETS = "CREATE TABLE widgets (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL);\n"
MARIADB_GADGETS = "CREATE TABLE gadgets (id INT AUTO_INCREMENT PRIMARY KEY);\n"
MARIADB_BROKEN = "ALTER TABLE widgets ADD COLUMN x INT;\nSELECT * FROM no_such_table;\n"


def mariadb_with_dump(images) -> str:
    """The test MariaDB with Debian's mariadb-client (mariadb-dump), as the official image has it."""
    base_id = docker("image", "inspect", "--format", "{{.Id}}", "dm-mariadb:10.11")
    return images.build_files("mariadb-dump", {}, (
        f"# dm-mariadb:10.11 is {base_id}\nFROM dm-mariadb:10.11\nRUN apt-get update -q && DEBIAN_FRONTEND="
        "noninteractive apt-get install -y -q --no-install-recommends mariadb-client && rm -rf /var/lib/apt/lists/*\n"))


def mariadb_app(images, migrations) -> str:
    base_id = docker("image", "inspect", "--format", "{{.Id}}", "dm-mariadb:10.11")
    files = {"app.json": json.dumps({"name": "shop", "migrations": {"command": "sh bin/migrate"}}),
             "bin/migrate": MARIADB_MIGRATE, **{f"migrations/{name}": sql for name, sql in migrations.items()}}
    dockerfile = (f"# dm-mariadb:10.11 is {base_id}\nFROM dm-mariadb:10.11\nENTRYPOINT []\nWORKDIR /app\n"
                  'COPY . /app/\nCMD ["sleep", "infinity"]\n')
    return images.build_files("mariadb-preflight", files, dockerfile)


def mariadb_tables(app: str) -> str:
    service = service_of(app)
    password = docker("container", "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}",
                      f"dokku.mariadb.{service}")
    root = next(line.split("=", 1)[1] for line in password.splitlines() if line.startswith("MYSQL_ROOT_PASSWORD="))
    return docker("container", "exec", "--env", f"MYSQL_PWD={root}", f"dokku.mariadb.{service}", "mariadb", "-uroot",
                  "-N", "-B", "-D", service, "-e",
                  "SELECT GROUP_CONCAT(CONCAT(table_name, ':', (SELECT COUNT(*) FROM information_schema.columns c "
                  "WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name)) ORDER BY table_name) "
                  "FROM information_schema.tables t WHERE table_schema = DATABASE()")


def mariadb_live(host, images, app) -> None:
    service = service_of(app)
    assert host.dokku("mariadb:create", service, env={"STANDIN_MARIADB_IMAGE": mariadb_with_dump(images)}).code == 0
    assert host.dokku("mariadb:link", service, app).code == 0
    v1 = mariadb_app(images, {"0001_widgets.sql": MARIADB_WIDGETS})
    assert host.dokku("git:from-image", app, v1).code == 0
    assert host.dokku("migrations:set", app, "preflight", "block").code == 0


def test_a_mariadb_migration_is_proven_on_a_copy_of_the_same_image(host, images, bare_app):
    mariadb_live(host, images, bare_app)
    v2 = mariadb_app(images, {"0001_widgets.sql": MARIADB_WIDGETS, "0002_gadgets.sql": MARIADB_GADGETS})

    result = host.dokku("git:from-image", bare_app, v2)

    assert result.code == 0, result.output
    out = result.stdout
    assert f"       Copied the schema of mysql database {service_of(bare_app)} on " in out
    assert "(2 tables) into a throwaway dm-test/mariadb-dump:" in out
    assert "       Applied 0002_gadgets" in out[:out.index("-----> Pre-flight passed")]
    assert "statements sent\n       (the lock report and the lint are for PostgreSQL)" in out
    assert mariadb_tables(bare_app) == "applied_migrations:2,gadgets:1,widgets:2"
    assert preflight_left(bare_app) == ""


def test_a_mariadb_migration_failing_halfway_is_stopped_before_production_is_touched(host, images, bare_app):
    mariadb_live(host, images, bare_app)
    v2 = mariadb_app(images, {"0001_widgets.sql": MARIADB_WIDGETS, "0002_gadgets.sql": MARIADB_GADGETS,
                              "0003_broken.sql": MARIADB_BROKEN})

    result = host.dokku("git:from-image", bare_app, v2)

    assert result.code != 0
    assert "       Applied 0002_gadgets" in result.stdout and "no_such_table" in result.stdout
    assert result.failures[-1].startswith(f" !     Pre-flight of {bare_app} failed on a copy of the production schema")
    assert mariadb_tables(bare_app) == "applied_migrations:2,widgets:2"
    assert preflight_left(bare_app) == ""
