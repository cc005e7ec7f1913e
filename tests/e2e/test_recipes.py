"""The recipes of docs/recipes.md deployed through Dokku's release path: each tool's migrations are
applied to the app's linked database before the new container starts."""

from .conftest import service_of
from .host import psql
from .recipes import recipe_deps, recipes  # noqa: F401 (fixtures)


def test_the_node_pg_migrate_example_app_is_migrated_on_deploy(host, recipes, app):
    result = host.dokku("git:from-image", app, recipes.example())

    assert result.code == 0, result.output
    assert "Running migrations for" in result.stdout and "npm run migrate" in result.stdout
    assert psql(service_of(app), "SELECT name FROM pgmigrations") == "1700000000000_create-notes"
    assert psql(service_of(app), "SELECT count(*) FROM notes") == "0"


def test_knex_migrate_latest_runs_from_package_json_on_deploy(host, recipes, app):
    result = host.dokku("git:from-image", app, recipes.knex())

    assert result.code == 0, result.output
    assert "knex migrate:latest" in result.stdout and "Batch 1 run: 1 migrations" in result.stdout
    assert psql(service_of(app), "SELECT name FROM knex_migrations") == "20240101000000_create_widgets.js"
    assert psql(service_of(app), "SELECT count(*) FROM widgets") == "0"


def test_drizzle_sql_migrations_are_applied_by_the_migrator_script_on_deploy(host, recipes, app):
    result = host.dokku("git:from-image", app, recipes.drizzle())

    assert result.code == 0, result.output
    assert "node migrate.js" in result.stdout and "       Drizzle migrations applied" in result.stdout
    assert psql(service_of(app), "SELECT count(*) FROM drizzle.__drizzle_migrations") == "1"
    assert psql(service_of(app), "SELECT indexname FROM pg_indexes WHERE tablename = 'widgets' "
                                 "AND indexname LIKE '%name%'") == "widgets_name_idx"


def test_alembic_upgrade_head_runs_from_the_command_setting_on_deploy(host, recipes, app):
    image = recipes.alembic()
    assert host.dokku("migrations:set", app, "command", "alembic upgrade head").code == 0

    result = host.dokku("git:from-image", app, image)

    assert result.code == 0, result.output
    assert "Running migrations for" in result.stdout and "alembic upgrade head" in result.stdout
    assert "Running upgrade  -> 0001, create widgets" in result.output
    assert psql(service_of(app), "SELECT version_num FROM alembic_version") == "0001"
    assert psql(service_of(app), "SELECT count(*) FROM widgets") == "0"


def test_django_migrate_runs_from_the_command_in_app_json_on_deploy(host, recipes, app):
    result = host.dokku("git:from-image", app, recipes.django())

    assert result.code == 0, result.output
    assert f"Running migrations for {app}: python manage.py migrate --noinput" in result.stdout
    assert "from /app/app.json $.migrations.command in" in result.stdout
    assert "       Applying notes.0001_initial... OK" in result.stdout
    assert host.history(app)[-1]["source"] == "/app/app.json $.migrations.command"
    assert psql(service_of(app), "SELECT name FROM django_migrations WHERE app = 'notes'") == "0001_initial"
    assert psql(service_of(app), "SELECT count(*) > 0 FROM django_migrations WHERE app = 'auth'") == "t"
    assert psql(service_of(app), "SELECT count(*) FROM notes_note") == "0"
    tables = psql(service_of(app), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    applied = psql(service_of(app), "SELECT count(*) FROM django_migrations")
    change = host.history(app)[0]["schema_change"]
    assert change.startswith(f"+{tables} tables, ") and change.endswith(f"; {applied} migrations recorded"), change
    assert f"       Database changed: {change}\n" in result.stdout


def test_rails_db_migrate_runs_from_the_command_in_app_json_on_deploy(host, recipes, app):
    result = host.dokku("git:from-image", app, recipes.rails())

    assert result.code == 0, result.output
    assert f"Running migrations for {app}: bin/rails db:migrate" in result.stdout
    assert "== 20240101000000 CreateWidgets: migrated" in result.stdout
    assert psql(service_of(app), "SELECT version FROM schema_migrations") == "20240101000000"
    assert psql(service_of(app), "SELECT value FROM ar_internal_metadata WHERE key = 'environment'") == "production"
    assert psql(service_of(app), "SELECT count(*) FROM widgets") == "0"
    # widgets, and Rails' own schema_migrations (its ledger) and ar_internal_metadata
    assert host.history(app)[0]["schema_change"].startswith("+3 tables, ")
    assert host.history(app)[0]["schema_change"].endswith("; 1 migration recorded")


def test_a_composer_migrate_script_runs_through_composer_on_deploy(host, recipes, app):
    result = host.dokku("git:from-image", app, recipes.composer())

    assert result.code == 0, result.output
    assert f"Running migrations for {app}: composer run-script --timeout=0 migrate" in result.stdout
    assert "from /app/composer.json $.scripts.migrate in" in result.stdout
    assert "       Applied 0001_create_invoices" in result.stdout
    assert psql(service_of(app), "SELECT version FROM applied_migrations") == "0001_create_invoices"
    assert psql(service_of(app), "SELECT count(*) FROM invoices") == "0"


def test_dry_run_shows_the_app_json_command_and_where_it_came_from(host, recipes, bare_app):
    result = host.dokku("migrations:run", bare_app, "--image", host.app_image(bare_app, recipes.rails()), "--dry-run")

    assert result.code == 0, result.output
    assert "Command:  bin/rails db:migrate" in result.stdout
    assert "Source:   /app/app.json $.migrations.command" in result.stdout
