"""Pre-flight: the incoming image's migration runs first on a copy of the production schema, in a
throwaway server of the database's own image on a private network; it reports what it sent and the
locks it takes, stops a `block` deploy that would fail before production is touched, and leaves
nothing behind whatever happens."""

from .apps import create_table
from .conftest import service_of
from .host import docker, psql

PREFLIGHT_LABEL = "com.dokku.migrations.preflight"
SCRIPTS = {"start": "node server.js", "migrate": "node-pg-migrate up"}
WIDGETS = {"1700000000001_widgets.js": create_table("widgets")}
ADD_PRICE = {**WIDGETS, "1700000000002_price.js": (
    "exports.up = (pgm) => { pgm.addColumn('widgets', { price: { type: 'integer', default: 0 } });\n"
    "  pgm.createIndex('widgets', 'name'); };\n")}
# a committed first statement, then a failing second one (node-pg-migrate runs each file in its own
# transaction: the first file commits, the second fails)
HALFWAY = {**WIDGETS,
           "1700000000002_gadgets.js": create_table("gadgets"),
           "1700000000003_broken.js": "exports.up = (pgm) => { pgm.sql('ALTER TABLE widgets ADD COLUMN x int');\n"
                                      "  pgm.sql('SELECT 1/0'); };\n"}


def preflight_left(app: str) -> str:
    containers = docker("container", "ls", "-aq", "--filter", f"label={PREFLIGHT_LABEL}={app}")
    networks = docker("network", "ls", "-q", "--filter", f"label={PREFLIGHT_LABEL}={app}")
    return (containers + " " + networks).strip()


def columns(app: str, table: str) -> str:
    return psql(service_of(app), "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM "
                                 f"information_schema.columns WHERE table_name = '{table}'")


def test_a_passing_pre_flight_reports_the_locks_then_the_deploy_migrates_production(host, images, app):
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS, scripts=SCRIPTS)).code == 0
    assert host.dokku("migrations:set", app, "preflight", "block").code == 0

    result = host.dokku("git:from-image", app, images.node_app("shop", "v2", ADD_PRICE, scripts=SCRIPTS))

    print(result.output)
    assert result.code == 0, result.output
    assert f"-----> Pre-flight for {app}: npm run migrate on a copy of the production schema (block)" in result.stdout
    assert "-----> Pre-flight passed in " in result.stdout
    assert columns(app, "widgets") == "id,name,price"
    assert preflight_left(app) == ""
