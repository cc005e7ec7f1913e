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
