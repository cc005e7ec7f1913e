"""The recipe apps of docs/recipes.md as real images: the node-pg-migrate example in examples/, Knex,
Drizzle (drizzle-orm's migrator over a drizzle-kit style SQL folder), Alembic, and projects that declare
their command in their own app.json or composer.json: Django, Rails, PHP through Composer. Node tools come
pinned from tests/images/recipe-deps, Alembic from the dm-python:3.11 image, the frameworks from Debian's
packages in dm-django:3.2, dm-rails:6.1 and dm-php:8.2 (tests/images/build); every image is
content-addressed, so a rerun reuses it."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from . import tally
from .apps import SERVER_JS, Images, node_base_image
from .host import REPO, docker, image_exists

EXAMPLE = REPO / "examples" / "node-pg-migrate"
TRY_LABEL = "com.dokku.migrations.try"


# --- fixtures (import them into a test module to use them) ------------------------------------------
@pytest.fixture(scope="session")
def recipe_deps(docker_available) -> Path:
    """RECIPE_DEPS from tests/images/build: from the environment when tests/run exported it, else by
    running the (cached, ~0.2 s) build, which also makes sure dm-python:3.11 exists."""
    path = os.environ.get("DM_RECIPE_DEPS")
    if not path:
        result = subprocess.run([str(REPO / "tests" / "images" / "build")], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.fail(f"tests/images/build failed: {result.stderr[-2000:]}")
        path = next((line.split("=", 1)[1] for line in result.stdout.splitlines()
                     if line.startswith("RECIPE_DEPS=")), "")
    if not path or not Path(path).is_dir():
        pytest.fail(f"no recipe node_modules at '{path}': run the suite through tests/run")
    return Path(path)


@pytest.fixture(scope="session")
def recipes(images, recipe_deps) -> "Recipes":
    return Recipes(images, recipe_deps)


# --- the apps --------------------------------------------------------------------------------------
KNEXFILE = """// Knex reads the database from DATABASE_URL, which `dokku postgres:link` sets.
module.exports = {
  client: 'pg',
  connection: process.env.DATABASE_URL,
  migrations: { directory: './migrations', tableName: 'knex_migrations' },
};
"""

KNEX_MIGRATION = """exports.up = (knex) =>
  knex.schema.createTable('widgets', (table) => {
    table.increments('id');
    table.text('name').notNullable();
  });

exports.down = (knex) => knex.schema.dropTable('widgets');
"""

DRIZZLE_MIGRATE_JS = """// Applies the SQL migrations drizzle-kit generated into ./drizzle (drizzle-kit generate),
// with drizzle-orm's own migrator: no drizzle-kit needed in the production image.
const { drizzle } = require('drizzle-orm/node-postgres');
const { migrate } = require('drizzle-orm/node-postgres/migrator');
const { Pool } = require('pg');

async function main() {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL });
  try {
    await migrate(drizzle(pool), { migrationsFolder: './drizzle' });
    console.log('Drizzle migrations applied');
  } finally {
    await pool.end();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
"""

DRIZZLE_SQL = """CREATE TABLE "widgets" (
\t"id" serial PRIMARY KEY NOT NULL,
\t"name" text NOT NULL
);
--> statement-breakpoint
CREATE INDEX "widgets_name_idx" ON "widgets" USING btree ("name");
"""

DRIZZLE_JOURNAL = json.dumps({
    "version": "7",
    "dialect": "postgresql",
    "entries": [{"idx": 0, "version": "7", "when": 1700000000000, "tag": "0000_create_widgets",
                 "breakpoints": True}],
}, indent=2) + "\n"

ALEMBIC_INI = """[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
# the database URL comes from DATABASE_URL, in migrations/env.py

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""

ALEMBIC_ENV = '''"""Alembic's environment: the database is DATABASE_URL, as Dokku sets it for the app."""
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name:
    fileConfig(config.config_file_name)


def database_url() -> str:
    url = os.environ["DATABASE_URL"]
    # dokku-postgres hands out postgres://...; SQLAlchemy wants postgresql+<driver>://
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://"):]
    return url


if context.is_offline_mode():
    context.configure(url=database_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
'''

ALEMBIC_REVISION = '''"""create widgets

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("widgets", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.Text, nullable=False))


def downgrade() -> None:
    op.drop_table("widgets")
'''


def app_json(command: str) -> str:
    """The app.json a project keeps for Dokku, with its migration command declared for this plugin."""
    return json.dumps({"name": "shop", "migrations": {"command": command}}, indent=2) + "\n"


DJANGO_COMMAND = "python manage.py migrate --noinput"

DJANGO_MANAGE = """#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"""

DJANGO_SETTINGS = '''"""Production settings from the environment, as `dokku config:set` and `postgres:link` give it."""
import os
from urllib.parse import unquote, urlsplit

SECRET_KEY = os.environ.get("SECRET_KEY", "set-it-with-dokku-config-set")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "notes"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def database(url: str) -> dict:
    """DATABASE_URL (postgres://user:password@host:port/name) as an entry of DATABASES."""
    parts = urlsplit(url)
    return {"ENGINE": "django.db.backends.postgresql", "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""), "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "", "PORT": parts.port or ""}


DATABASES = {"default": database(os.environ["DATABASE_URL"])}
'''

DJANGO_MODELS = """from django.db import models


class Note(models.Model):
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
"""

# what `python manage.py makemigrations notes` writes for the model above
DJANGO_MIGRATION = """from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Note",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("body", models.TextField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
    ]
"""

RAILS_COMMAND = "bin/rails db:migrate"

RAILS_GEMFILE = """source "https://rubygems.org"

gem "rails", "~> 6.1.7"
gem "pg", "~> 1.4"
"""

RAILS_BOOT = """ENV["BUNDLE_GEMFILE"] ||= File.expand_path("../Gemfile", __dir__)
require "bundler/setup"
"""

RAILS_APPLICATION = """require_relative "boot"
require "rails"
require "active_record/railtie"

module Shop
  class Application < Rails::Application
    config.load_defaults 6.1
    config.eager_load = false
    config.active_record.dump_schema_after_migration = false
  end
end
"""

RAILS_ENVIRONMENT = """require_relative "application"
Rails.application.initialize!
"""

# Rails takes the connection from DATABASE_URL, which `dokku postgres:link` sets
RAILS_DATABASE_YML = """production:
  adapter: postgresql
  url: <%= ENV["DATABASE_URL"] %>
"""

RAILS_RAKEFILE = """require_relative "config/application"
Rails.application.load_tasks
"""

RAILS_BIN = """#!/usr/bin/env ruby
APP_PATH = File.expand_path("../config/application", __dir__)
require_relative "../config/boot"
require "rails/commands"
"""

RAILS_MIGRATION = """class CreateWidgets < ActiveRecord::Migration[6.1]
  def change
    create_table :widgets do |t|
      t.string :name, null: false
      t.timestamps
    end
  end
end
"""

COMPOSER_JSON = json.dumps({
    "name": "acme/shop",
    "type": "project",
    "require": {"php": ">=8.1", "ext-pdo_pgsql": "*"},
    "scripts": {"migrate": "@php bin/migrate.php"},
}, indent=4) + "\n"

PHP_MIGRATE = r"""<?php
// Applies migrations/*.sql in name order, each once, and records it in applied_migrations.
if (!getenv('DATABASE_URL')) {
    fwrite(STDERR, "DATABASE_URL is not set: link a database with dokku postgres:link\n");
    exit(1);
}
$url = parse_url(getenv('DATABASE_URL'));
$pdo = new PDO(
    sprintf('pgsql:host=%s;port=%d;dbname=%s', $url['host'], $url['port'] ?? 5432, ltrim($url['path'], '/')),
    rawurldecode($url['user']),
    rawurldecode($url['pass']),
    [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]
);
$pdo->exec('CREATE TABLE IF NOT EXISTS applied_migrations (version text PRIMARY KEY, at timestamptz DEFAULT now())');
$applied = $pdo->query('SELECT version FROM applied_migrations')->fetchAll(PDO::FETCH_COLUMN);
$files = glob(dirname(__DIR__) . '/migrations/*.sql');
sort($files);
foreach ($files as $file) {
    $version = basename($file, '.sql');
    if (in_array($version, $applied, true)) {
        continue;
    }
    $pdo->beginTransaction();
    $pdo->exec(file_get_contents($file));
    $pdo->prepare('INSERT INTO applied_migrations (version) VALUES (?)')->execute([$version]);
    $pdo->commit();
    echo "Applied $version\n";
}
"""

PHP_MIGRATION = "CREATE TABLE invoices (id serial PRIMARY KEY, total_cents integer NOT NULL);\n"


def node_app_files(name: str, migrate: str, files: Dict[str, str]) -> Dict[str, str]:
    package = {"name": name, "version": "1.0.0", "private": True,
               "scripts": {"start": "node server.js", "migrate": migrate}}
    return {"package.json": json.dumps(package, indent=2) + "\n", "server.js": SERVER_JS, "version.txt": "v1",
            **files}


class Recipes:
    def __init__(self, images: Images, recipe_deps: Path) -> None:
        self.images = images
        self.node_base = node_base_image("dm-test-recipes-base", recipe_deps)

    def _node(self, name: str, files: Dict[str, str]) -> str:
        return self.images.build_files(name, files, f"FROM {self.node_base}\nWORKDIR /app\nCOPY . /app/\n"
                                                    'CMD ["node", "server.js"]\n')

    def knex(self) -> str:
        return self._node("knex", node_app_files("knex-app", "knex migrate:latest", {
            "knexfile.js": KNEXFILE, "migrations/20240101000000_create_widgets.js": KNEX_MIGRATION}))

    def drizzle(self) -> str:
        return self._node("drizzle", node_app_files("drizzle-app", "node migrate.js", {
            "migrate.js": DRIZZLE_MIGRATE_JS, "drizzle/0000_create_widgets.sql": DRIZZLE_SQL,
            "drizzle/meta/_journal.json": DRIZZLE_JOURNAL}))

    def alembic(self) -> str:
        python_id = docker("image", "inspect", "--format", "{{.Id}}", "dm-python:3.11")
        files = {"alembic.ini": ALEMBIC_INI, "migrations/env.py": ALEMBIC_ENV,
                 "migrations/versions/0001_create_widgets.py": ALEMBIC_REVISION}
        # (alembic and psycopg2 are in dm-python:3.11; an app's own Dockerfile pip-installs them)
        dockerfile = (f"# dm-python:3.11 is {python_id}\nFROM dm-python:3.11\nWORKDIR /app\nCOPY . /app/\n"
                      'CMD ["python3", "-m", "http.server", "5000"]\n')
        return self.images.build_files("alembic", files, dockerfile)

    def _on(self, base: str, name: str, files: Dict[str, str], steps: str) -> str:
        """An app image FROM one of tests/images/build's images, rebuilt whenever that image is."""
        base_id = docker("image", "inspect", "--format", "{{.Id}}", base)
        return self.images.build_files(name, files, f"# {base} is {base_id}\nFROM {base}\nWORKDIR /app\n"
                                                    f"COPY . /app/\n{steps}")

    def django(self, extra: Optional[Dict[str, str]] = None) -> str:
        """`extra`: files added or replaced (a later migration and its model)."""
        files = {"app.json": app_json(DJANGO_COMMAND), "manage.py": DJANGO_MANAGE, "shop/__init__.py": "",
                 "shop/settings.py": DJANGO_SETTINGS, "notes/__init__.py": "", "notes/models.py": DJANGO_MODELS,
                 "notes/migrations/__init__.py": "", "notes/migrations/0001_initial.py": DJANGO_MIGRATION,
                 **(extra or {})}
        return self._on("dm-django:3.2", "django", files,
                        'ENV PYTHONUNBUFFERED=1\nCMD ["python", "-m", "http.server", "5000"]\n')

    def rails(self, extra: Optional[Dict[str, str]] = None) -> str:
        """No Gemfile.lock: bundler resolves the Gemfile from the gems Debian installed, offline. `extra`:
        files added or replaced (a later migration)."""
        files = {"app.json": app_json(RAILS_COMMAND), "Gemfile": RAILS_GEMFILE, "Rakefile": RAILS_RAKEFILE,
                 "config/boot.rb": RAILS_BOOT, "config/application.rb": RAILS_APPLICATION,
                 "config/environment.rb": RAILS_ENVIRONMENT, "config/database.yml": RAILS_DATABASE_YML,
                 "bin/rails": RAILS_BIN, "db/migrate/20240101000000_create_widgets.rb": RAILS_MIGRATION,
                 **(extra or {})}
        return self._on("dm-rails:6.1", "rails", files, "RUN chmod +x bin/rails\nENV RAILS_ENV=production\n"
                                                        'CMD ["ruby", "-run", "-e", "httpd", ".", "-p", "5000"]\n')

    def composer(self) -> str:
        files = {"composer.json": COMPOSER_JSON, "bin/migrate.php": PHP_MIGRATE,
                 "migrations/0001_create_invoices.sql": PHP_MIGRATION}
        return self._on("dm-php:8.2", "composer", files, 'CMD ["php", "-S", "0.0.0.0:5000"]\n')

    def example(self) -> str:
        return example_image(self.images)


def example_image(images: Images) -> str:
    """examples/node-pg-migrate, built as examples/try-demo builds it: FROM dm-node:20, with the pinned
    node-deps node_modules in the context instead of `npm ci`."""
    files = {str(path.relative_to(EXAMPLE)): path.read_text() for path in sorted(EXAMPLE.rglob("*"))
             if path.is_file() and path.name != ".dockerignore"}
    node_deps = Path(os.environ["DM_NODE_DEPS"])
    node_id = docker("image", "inspect", "--format", "{{.Id}}", "dm-node:20")
    digest = hashlib.sha256(json.dumps([files, str(node_deps), node_id], sort_keys=True).encode()).hexdigest()[:12]
    tag = f"dm-test/example:{digest}"
    if image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory() as context:
        for name, body in files.items():
            (Path(context) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(context) / name).write_text(body)
        shutil.copytree(node_deps, Path(context) / "node_modules", symlinks=True)
        result = subprocess.run(["docker", "build", "--quiet", "--build-arg", "BASE=dm-node:20", "--tag", tag,
                                 context], capture_output=True, text=True, env={**os.environ, "DOCKER_BUILDKIT": "0"})
        if result.returncode != 0:
            raise AssertionError(f"building {tag} failed: {result.stderr}")
    return tag


# --- `try` ---------------------------------------------------------------------------------------------
def run_try(*args: str, env: Dict[str, str] = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python3 -m dokku_migrations try ...` from the repository, without Dokku (as root, like a developer)."""
    result = subprocess.run([sys.executable, "-m", "dokku_migrations", "try", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=timeout, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    if "-----> Starting a throwaway" in result.stdout:
        tally.count("databases")
    return result


def spawn_try(*args: str) -> subprocess.Popen:
    """`try` in its own process group, so a test can press Ctrl-C on all of it as a terminal would."""
    tally.count("databases")
    return subprocess.Popen([sys.executable, "-m", "dokku_migrations", "try", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            stdin=subprocess.DEVNULL)


def session_of(output: str) -> str:
    """The id in `Container dm-try-<id>-postgres on network dm-try-<id>, ...`."""
    for line in output.splitlines():
        if line.strip().startswith("Container dm-try-"):
            return line.strip().split()[1][len("dm-try-"):].split("-")[0]
    raise AssertionError(f"no session in the output:\n{output}")


def left_by(session: str) -> List[str]:
    """Containers and networks of one `try` session still on the host."""
    containers = docker("container", "ls", "-aq", "--filter", f"label={TRY_LABEL}={session}").split()
    networks = docker("network", "ls", "-q", "--filter", f"label={TRY_LABEL}={session}").split()
    return containers + networks
