"""The images on the host at the first install: the only record-less images that may start unseen."""

import json

import pytest

from dokku_migrations.common.errors import UserError
from dokku_migrations.gate import predating
from dokku_migrations.gate.policy import PREDATING, Gate


class Engine:
    def __init__(self, images=None, error=None):
        self.images = images or {}
        self.error = error
        self.asked = 0

    def app_image_ids(self):
        self.asked += 1
        if self.error:
            raise UserError(self.error)
        return self.images


@pytest.fixture
def dokku_root(tmp_path):
    root = tmp_path / "home"
    (root / "shop").mkdir(parents=True)
    return root


def test_the_first_install_lists_the_images_of_every_existing_app(tmp_path, dokku_root):
    engine = Engine({"shop": ["sha256:b", "sha256:a"], "gone": ["sha256:c"], "../etc": ["sha256:d"]})

    note = predating.take(engine, tmp_path / "data", dokku_root, None)

    assert json.loads((tmp_path / "data" / "shop" / PREDATING).read_text()) == ["sha256:a", "sha256:b"]
    assert not (tmp_path / "data" / "gone").exists()
    assert Gate(tmp_path / "data").predates("shop", "sha256:a")
    assert note == "2 image(s) of 1 app(s) were here before dokku-migrations: they stay startable"


def test_a_later_install_never_adds_an_image_built_since(tmp_path, dokku_root):
    predating.take(Engine({"shop": ["sha256:a"]}), tmp_path / "data", dokku_root, None)
    later = Engine({"shop": ["sha256:a", "sha256:cancelled-build"]})

    assert predating.take(later, tmp_path / "data", dokku_root, None) == ""
    assert later.asked == 0
    assert not Gate(tmp_path / "data").predates("shop", "sha256:cancelled-build")


def test_with_docker_down_nothing_is_marked_taken_and_the_next_install_tries_again(tmp_path, dokku_root):
    with pytest.raises(UserError):
        predating.take(Engine(error="Docker is not reachable"), tmp_path / "data", dokku_root, None)

    predating.take(Engine({"shop": ["sha256:a"]}), tmp_path / "data", dokku_root, None)
    assert Gate(tmp_path / "data").predates("shop", "sha256:a")
