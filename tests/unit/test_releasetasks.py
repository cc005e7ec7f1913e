"""Dokku's own release tasks: which ones run the same migrations as the plugin."""

import json

from dokku_migrations.run.manifest import parse_rule
from dokku_migrations.run.releasetasks import PREDEPLOY, RELEASE, Task, found, migration_commands, running_the_same

RULES = [parse_rule("package.json:$.scripts.migrate=>npm run migrate")]
PACKAGE = json.dumps({"scripts": {"migrate": "node-pg-migrate up"}}).encode()


def test_the_predeploy_of_app_json_and_the_procfile_release_are_found():
    app_json = json.dumps({"scripts": {"dokku": {"predeploy": "npm run migrate"}}})

    assert found(app_json, "npm run migrate\n") == [Task(PREDEPLOY, "npm run migrate"),
                                                    Task(RELEASE, "npm run migrate")]


def test_no_app_json_an_empty_one_or_one_dokku_could_not_give_means_no_predeploy():
    assert found("", "") == []
    assert found("{}", "") == []
    assert found("not json", "") == []
    assert found(json.dumps({"scripts": {"dokku": {"predeploy": ["npm"]}}}), "") == []


def test_a_task_containing_the_command_or_the_script_it_runs_runs_the_same_migrations():
    tasks = [Task(RELEASE, "npm  run migrate && npm run seed"),
             Task(PREDEPLOY, "./node_modules/.bin/node-pg-migrate up")]

    assert running_the_same(tasks, ["npm run migrate", "node-pg-migrate up"]) == tasks


def test_a_task_doing_something_else_is_not_counted():
    assert running_the_same([Task(RELEASE, "echo warming caches")], ["npm run migrate", "node-pg-migrate up"]) == []


def test_a_detected_command_brings_the_script_it_names():
    files = {"/app/package.json": PACKAGE}

    assert migration_commands("npm run migrate", RULES, "/app", files) == ["npm run migrate", "node-pg-migrate up"]


def test_a_command_setting_comes_alone():
    assert migration_commands("python manage.py migrate", RULES, "/app", {}) == ["python manage.py migrate"]
