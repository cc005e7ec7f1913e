"""`migrations:rollback`: where the down migration's command comes from, and what a broken declaration says."""

import json

import pytest

from dokku_migrations.common.errors import UserError
from dokku_migrations.docker.image import ImageInfo
from dokku_migrations.gate.rollback import command_for
from dokku_migrations.run.settings import SettingsStore


class Image:
    """An image's files, served as Docker reads them out of a never-started container."""

    def __init__(self, files):
        self.files = files

    def read_file(self, image, paths, owner=""):
        return {path: self.files.get(path) for path in paths}


class Ctx:
    def __init__(self, tmp_path, files):
        self.settings = SettingsStore(tmp_path)
        self.docker = Image(files)


IMAGE = ImageInfo(ref="dokku/shop:2", id="sha256:2", entrypoint=[], labels={}, env=[], repo_tags=[], workdir="/app")


def app_json(migrations) -> dict:
    return {"/app/app.json": json.dumps({"migrations": migrations}).encode()}


def test_the_rollback_declared_in_app_json_is_the_command(tmp_path):
    ctx = Ctx(tmp_path, app_json({"command": "npm run migrate", "rollback": "npm run migrate:down"}))
    assert command_for(ctx, "shop", IMAGE) == ("npm run migrate:down", "/app/app.json $.migrations.rollback")


@pytest.mark.parametrize("value", [["npm", "run", "migrate:down"], 1, {"run": "down"}],
                         ids=["list", "number", "object"])
def test_a_rollback_in_app_json_that_is_not_a_string_points_at_the_rollback_command_setting(tmp_path, value):
    ctx = Ctx(tmp_path, app_json({"rollback": value}))

    with pytest.raises(UserError) as error:
        command_for(ctx, "shop", IMAGE)

    assert error.value.message.startswith("$.migrations.rollback in /app/app.json must be a command (a string)")
    assert error.value.message.endswith(
        "fix it, or set the rollback command with 'dokku migrations:set shop rollback-command ...'")


def test_a_migrations_that_is_not_an_object_shows_where_rollback_belongs(tmp_path):
    ctx = Ctx(tmp_path, app_json("npm run migrate:down"))

    with pytest.raises(UserError, match=r'^/app/app\.json must be shaped like \{"migrations": \{"rollback": "…"\}\}'):
        command_for(ctx, "shop", IMAGE)
