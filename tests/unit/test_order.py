"""The plugin's name decides where its hooks run among Dokku's plugins (plugn: name order)."""

import pytest

from dokku_migrations.dokku.order import misnamed, origin_url, runs_after_scheduler


@pytest.mark.parametrize("name", ["migrations", "dokku-migrations", "db-migrations", "app-migrations",
                                  "scheduler-a", "Migrations"])
def test_a_name_sorting_before_the_docker_local_scheduler_works(name):
    assert not runs_after_scheduler(name)


@pytest.mark.parametrize("name", ["zz-migrations", "schema-migrations", "scheduler-migrations", "sd-migrations",
                                  "scheduler_z"])
def test_a_name_sorting_after_it_in_byte_or_letter_order_is_refused(name):
    assert runs_after_scheduler(name)


def test_the_refusal_says_why_and_how_to_reinstall_from_the_url_it_was_cloned_from(tmp_path):
    plugin = tmp_path / "zz-migrations"
    (plugin / ".git").mkdir(parents=True)
    (plugin / ".git" / "config").write_text('[core]\n\tbare = false\n[remote "origin"]\n'
                                             '\turl = https://example.com/org/dokku-migrations.git\n')
    message = misnamed(str(plugin))
    assert message.startswith("dokku-migrations cannot work installed as 'zz-migrations': Dokku runs plugins in "
                              "name order, and 'zz-migrations' comes after 'scheduler-docker-local'")
    assert message.endswith("sudo dokku plugin:uninstall zz-migrations && sudo dokku plugin:install "
                            "https://example.com/org/dokku-migrations.git --name migrations")


def test_a_plugin_not_cloned_by_git_has_no_url_to_give(tmp_path):
    assert origin_url(str(tmp_path)) == ""
    assert misnamed(str(tmp_path / "migrations")) == ""
