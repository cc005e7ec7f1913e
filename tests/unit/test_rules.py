"""Dokku's app-name rule, as the head start and every trigger and command apply it (common/rules.py):
dokku/dokku v0.38.27 plugins/common/common.go IsValidAppName `^[a-z0-9][a-z0-9.-]*$`, and
IsValidAppNameOld, which VerifyAppName also accepts for existing apps, with `_` as well."""

import pytest

from dokku_migrations.common.errors import UserError
from dokku_migrations.common.rules import valid_app_name
from dokku_migrations.dokku.host import check_app_name


@pytest.mark.parametrize("name", ["shop", "shop-2", "a.b_c", "0app", "x", "my.app", "old_app", "9"])
def test_a_name_dokku_accepts_is_valid(name):
    assert valid_app_name(name)
    assert check_app_name(name) == name


@pytest.mark.parametrize("name", ["Shop", "-shop", ".shop", "_x", "", "a/b", "a b", "..", "x\n", "é", "app\0"])
def test_a_name_dokku_refuses_is_refused_before_it_reaches_a_path(name):
    assert not valid_app_name(name)
    with pytest.raises(UserError, match="Invalid app name"):
        check_app_name(name)
