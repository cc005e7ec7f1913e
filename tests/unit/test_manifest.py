"""Detection rules: which manifest in the image names the migration command, and how it is read."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dokku_migrations.common.errors import UserError
from dokku_migrations.run.manifest import (
    DEFAULT_RULES,
    MAX_NESTING,
    Rule,
    candidate_paths,
    command_from,
    detect,
    dotted_keys,
    finder,
    load_json,
    parse_rule,
)

DEFAULT = [parse_rule(text) for text in DEFAULT_RULES]
NPM = parse_rule("package.json:$.scripts.migrate=>npm run migrate")
PACKAGE_WITH_MIGRATE = json.dumps({"name": "app", "scripts": {"migrate": "knex migrate:latest"}}).encode()


def image_files(files):
    """A fake of the image: read_files answers from a dict, and records what it was asked for."""
    calls = []

    def read_files(paths):
        calls.append(list(paths))
        return {path: files.get(path) for path in paths}

    read_files.calls = calls
    return read_files


def package(scripts):
    return json.dumps({"name": "app", "scripts": scripts}).encode()


def app_json(migrations):
    """An app.json as Dokku users keep it, with this plugin's `migrations` object."""
    return json.dumps({"scripts": {"dokku": {"postdeploy": "echo deployed"}}, "migrations": migrations}).encode()


def composer(scripts):
    return json.dumps({"name": "acme/shop", "require": {"php": ">=8.1"}, "scripts": scripts}).encode()


# --- the default rules: a project opts in from its own files ------------------------------------

def test_app_json_migrations_command_is_the_command_that_runs():
    files = {"/app/app.json": app_json({"command": "python manage.py migrate --noinput"})}
    detection = detect(DEFAULT, "/app", image_files(files))
    assert detection.command == "python manage.py migrate --noinput"


def test_a_detection_from_app_json_names_the_file_and_jsonpath_it_came_from():
    files = {"/app/app.json": app_json({"command": "bin/rails db:migrate"})}
    assert detect(DEFAULT, "/app", image_files(files)).source == "/app/app.json $.migrations.command"


def test_app_json_wins_over_a_package_json_migrate_script():
    files = {"/app/app.json": app_json({"command": "alembic upgrade head"}), "/app/package.json": PACKAGE_WITH_MIGRATE}
    assert detect(DEFAULT, "/app", image_files(files)).command == "alembic upgrade head"


def test_the_migrations_object_in_app_json_may_carry_other_keys():
    files = {"/app/app.json": app_json({"command": "bin/rails db:migrate", "database": "mariadb:10.11",
                                        "later": {"any": ["thing"]}})}
    assert detect(DEFAULT, "/app", image_files(files)).command == "bin/rails db:migrate"


def test_an_app_json_without_a_migrations_command_lets_package_json_decide():
    files = {"/app/app.json": app_json({"database": "mariadb:10.11"}), "/app/package.json": PACKAGE_WITH_MIGRATE}
    assert detect(DEFAULT, "/app", image_files(files)).command == "npm run migrate"


def test_an_app_json_with_only_dokku_settings_has_nothing_to_run():
    files = {"/app/app.json": json.dumps({"scripts": {"dokku": {"predeploy": "python manage.py migrate"}}}).encode()}
    assert detect(DEFAULT, "/app", image_files(files)) is None


@pytest.mark.parametrize("command", ["", "   "], ids=["empty", "blank"])
def test_an_empty_app_json_command_is_not_a_command_and_the_next_rule_is_tried(command):
    files = {"/app/app.json": app_json({"command": command}), "/app/package.json": PACKAGE_WITH_MIGRATE}
    assert detect(DEFAULT, "/app", image_files(files)).command == "npm run migrate"


def test_the_app_json_command_runs_without_the_spaces_and_line_ends_around_it():
    files = {"/app/app.json": app_json({"command": "  alembic upgrade head\n"})}
    assert detect(DEFAULT, "/app", image_files(files)).command == "alembic upgrade head"


def test_a_composer_migrate_script_runs_through_composer_without_composers_own_timeout():
    files = {"/app/composer.json": composer({"migrate": "@php artisan migrate --force"})}
    assert detect(DEFAULT, "/app", image_files(files)).command == "composer run-script --timeout=0 migrate"


def test_a_composer_migrate_script_written_as_a_list_of_commands_is_detected():
    files = {"/app/composer.json": composer({"migrate": ["@php artisan migrate --force", "@php artisan db:seed"]})}
    assert detect(DEFAULT, "/app", image_files(files)).command == "composer run-script --timeout=0 migrate"


@pytest.mark.parametrize("script", [[], ["", " "]], ids=["empty-list", "list-of-blanks"])
def test_a_composer_migrate_script_that_is_an_empty_list_has_nothing_to_run(script):
    assert detect(DEFAULT, "/app", image_files({"/app/composer.json": composer({"migrate": script})})) is None


def test_a_package_json_migrate_script_wins_over_a_composer_one():
    files = {"/app/package.json": PACKAGE_WITH_MIGRATE, "/app/composer.json": composer({"migrate": "@php m.php"})}
    assert detect(DEFAULT, "/app", image_files(files)).command == "npm run migrate"


@pytest.mark.parametrize("files", [
    {"/app/manage.py": b"#!/usr/bin/env python\n", "/app/requirements.txt": b"Django==4.2\n"},
    {"/app/Gemfile": b"gem 'rails'\n", "/app/bin/rails": b"#!/usr/bin/env ruby\n", "/app/Rakefile": b""},
    {"/app/artisan": b"#!/usr/bin/env php\n", "/app/composer.json": composer({"post-install-cmd": "x"})},
], ids=["django", "rails", "laravel"])
def test_a_framework_that_is_merely_present_has_nothing_to_run(files):
    assert detect(DEFAULT, "/app", image_files(files)) is None


def test_only_the_manifests_the_rules_name_are_read_from_the_image():
    read_files = image_files({})
    detect(DEFAULT, "/app", read_files)
    assert read_files.calls == [["/app/app.json", "/app/package.json", "/app/composer.json"]]


# --- the npm rule -------------------------------------------------------------------------------

def test_the_default_rule_detects_npm_run_migrate_from_app_package_json():
    detection = detect(DEFAULT, "", image_files({"/app/package.json": PACKAGE_WITH_MIGRATE}))
    assert detection is not None
    assert detection.command == "npm run migrate"
    assert detection.path == "/app/package.json"


def test_a_detection_from_package_json_names_the_file_and_jsonpath_it_came_from():
    detection = detect(DEFAULT, "/app", image_files({"/app/package.json": PACKAGE_WITH_MIGRATE}))
    assert detection.source == "/app/package.json $.scripts.migrate"


def test_the_default_rule_runs_the_script_by_name_not_its_contents():
    detection = detect(DEFAULT, "/app", image_files({"/app/package.json": package({"migrate": "rm -rf /"})}))
    assert detection.command == "npm run migrate"


# --- where the file is looked for -------------------------------------------------------------

def test_a_relative_file_is_looked_for_in_the_workingdir_first_then_in_app():
    assert candidate_paths(NPM, "/srv/web") == ["/srv/web/package.json", "/app/package.json"]


def test_a_workingdir_of_app_is_looked_in_only_once():
    assert candidate_paths(NPM, "/app") == ["/app/package.json"]


def test_an_image_without_workingdir_is_looked_in_at_app_only():
    assert candidate_paths(NPM, "") == ["/app/package.json"]


def test_a_relative_workingdir_is_ignored():
    assert candidate_paths(NPM, "srv") == ["/app/package.json"]


def test_an_absolute_file_is_looked_for_only_where_it_says():
    rule = parse_rule("/opt/app/package.json:$.scripts.migrate=>npm run migrate")
    assert candidate_paths(rule, "/srv") == ["/opt/app/package.json"]


def test_the_package_json_in_the_workingdir_wins_over_the_one_in_app():
    files = {"/srv/package.json": package({"migrate": "a"}), "/app/package.json": package({"migrate": "b"})}
    detection = detect(DEFAULT, "/srv", image_files(files))
    assert detection.path == "/srv/package.json"


def test_the_package_json_in_app_is_used_when_the_workingdir_has_none():
    detection = detect(DEFAULT, "/srv", image_files({"/app/package.json": PACKAGE_WITH_MIGRATE}))
    assert detection.path == "/app/package.json"


def test_a_package_json_in_the_workingdir_without_the_script_hides_the_one_in_app():
    files = {"/srv/package.json": package({"start": "node ."}), "/app/package.json": PACKAGE_WITH_MIGRATE}
    assert detect(DEFAULT, "/srv", image_files(files)) is None


def test_every_candidate_file_is_read_from_the_image_in_one_call():
    read_files = image_files({})
    detect(DEFAULT, "/srv", read_files)
    assert read_files.calls == [["/srv/app.json", "/app/app.json", "/srv/package.json", "/app/package.json",
                                 "/srv/composer.json", "/app/composer.json"]]


def test_no_rules_means_nothing_is_read_and_nothing_detected():
    read_files = image_files({})
    assert detect([], "/app", read_files) is None
    assert read_files.calls == []


# --- several rules ----------------------------------------------------------------------------

def test_rules_are_tried_in_order_and_the_first_that_finds_a_command_wins():
    rules = [parse_rule("app.json:$.scripts.migrate=>./migrate.sh"), NPM]
    files = {"/app/app.json": json.dumps({"scripts": {"migrate": "x"}}).encode(),
             "/app/package.json": PACKAGE_WITH_MIGRATE}
    assert detect(rules, "/app", image_files(files)).command == "./migrate.sh"


def test_a_later_rule_is_used_when_the_first_rule_finds_nothing():
    rules = [parse_rule("app.json:$.scripts.migrate=>./migrate.sh"), NPM]
    assert detect(rules, "/app", image_files({"/app/package.json": PACKAGE_WITH_MIGRATE})).command == "npm run migrate"


# --- nothing to run ---------------------------------------------------------------------------

def test_an_image_without_package_json_has_nothing_to_run():
    assert detect(DEFAULT, "/app", image_files({})) is None


def test_a_package_json_without_a_migrate_script_has_nothing_to_run():
    assert detect(DEFAULT, "/app", image_files({"/app/package.json": package({"start": "node ."})})) is None


def test_a_package_json_without_scripts_has_nothing_to_run():
    assert detect(DEFAULT, "/app", image_files({"/app/package.json": b'{"name": "app"}'})) is None


@pytest.mark.parametrize("document", [[], "text", {"scripts": "migrate"}], ids=["list", "string", "scripts-string"])
def test_a_manifest_of_an_unexpected_shape_has_nothing_to_run(document):
    assert command_from(NPM, "/app/package.json", document) is None


@pytest.mark.parametrize("document", [{}, {"name": "shop"}, {"migrations": {}}, {"migrations": {"database": "mysql"}}],
                         ids=["empty", "no-migrations", "empty-migrations", "database-only"])
def test_an_app_json_without_a_migrations_command_has_nothing_to_run(document):
    assert command_from(DEFAULT[0], "/app/app.json", document) is None


@pytest.mark.parametrize("script", ["", "   "], ids=["empty", "blank"])
def test_an_empty_migrate_script_has_nothing_to_run(script):
    assert detect(DEFAULT, "/app", image_files({"/app/package.json": package({"migrate": script})})) is None


# --- broken manifests stop the deploy ---------------------------------------------------------

def test_a_package_json_that_is_not_json_is_refused_naming_its_path():
    with pytest.raises(UserError, match=r"^/app/package\.json in the image is not valid JSON"):
        detect(DEFAULT, "/app", image_files({"/app/package.json": b'{"scripts": {'}))


def test_a_package_json_that_is_not_utf8_is_refused_naming_its_path():
    with pytest.raises(UserError, match=r"^/app/package\.json in the image is not valid UTF-8"):
        load_json("/app/package.json", b'{"name": "\xff"}')


def test_a_package_json_with_a_byte_order_mark_is_read():
    assert load_json("/app/package.json", b'\xef\xbb\xbf{"name": "app"}') == {"name": "app"}


@pytest.mark.parametrize("value, kind", [
    ({"cmd": "knex"}, "an object"),
    (42, "a number"),
    (1.5, "a number"),
    (None, "null"),
    (True, "a boolean"),
    (["knex", 1], "a list holding a number"),
    ([None], "a list holding null"),
], ids=["object", "int", "float", "null", "bool", "list-with-number", "list-with-null"])
def test_a_migrate_script_that_is_neither_text_nor_a_list_of_text_is_refused_saying_what_it_is(value, kind):
    with pytest.raises(UserError) as error:
        detect(DEFAULT, "/app", image_files({"/app/package.json": package({"migrate": value})}))
    assert error.value.message == (f"$.scripts.migrate in /app/package.json must be a string or a list of strings, "
                                   f"but it is {kind}: fix it, or set the command with "
                                   "'dokku migrations:set <app> command ...'")


def test_a_migrate_script_written_as_a_list_is_left_to_the_tool_that_runs_it():
    files = {"/app/package.json": package({"migrate": ["knex", "migrate:latest"]})}
    assert detect(DEFAULT, "/app", image_files(files)).command == "npm run migrate"


@pytest.mark.parametrize("value, kind", [
    (["python", "manage.py", "migrate"], "a list"),
    ({"run": "alembic upgrade head"}, "an object"),
    (7, "a number"),
    (None, "null"),
    (False, "a boolean"),
], ids=["list", "object", "number", "null", "bool"])
def test_an_app_json_command_that_is_not_a_string_is_refused_naming_the_file(value, kind):
    with pytest.raises(UserError) as error:
        detect(DEFAULT, "/app", image_files({"/app/app.json": app_json({"command": value})}))
    assert error.value.message == (f"$.migrations.command in /app/app.json must be a command (a string), but it is "
                                   f"{kind}: fix it, or set the command with 'dokku migrations:set <app> command ...'")


@pytest.mark.parametrize("breaker", ["\n", "\r", "\0"], ids=["newline", "carriage-return", "nul"])
def test_an_app_json_command_on_several_lines_is_refused_naming_the_file(breaker):
    files = {"/app/app.json": app_json({"command": f"python manage.py migrate{breaker}rm -rf /"})}
    with pytest.raises(UserError, match=r"^\$\.migrations\.command in /app/app\.json must be a command on one line"):
        detect(DEFAULT, "/app", image_files(files))


@pytest.mark.parametrize("migrations, kind", [
    ("python manage.py migrate", "a string"),
    (["python manage.py migrate"], "a list"),
    (None, "null"),
], ids=["string", "list", "null"])
def test_an_app_json_migrations_that_is_not_an_object_is_refused_showing_the_shape(migrations, kind):
    with pytest.raises(UserError) as error:
        detect(DEFAULT, "/app", image_files({"/app/app.json": app_json(migrations)}))
    assert error.value.message == ('/app/app.json must be shaped like {"migrations": {"command": "…"}}, but its '
                                   f"$.migrations is {kind}: fix it, or set the command with "
                                   "'dokku migrations:set <app> command ...'")


@pytest.mark.parametrize("document, kind", [([], "a list"), ("migrate", "a string"), (None, "null")],
                         ids=["list", "string", "null"])
def test_an_app_json_that_is_not_an_object_is_refused_showing_the_shape(document, kind):
    with pytest.raises(UserError) as error:
        detect(DEFAULT, "/app", image_files({"/app/app.json": json.dumps(document).encode()}))
    assert error.value.message == ('/app/app.json must be shaped like {"migrations": {"command": "…"}}, but it is '
                                   f"{kind}: fix it, or set the command with 'dokku migrations:set <app> command ...'")


def test_a_malformed_app_json_migrations_stops_detection_rather_than_falling_through_to_package_json():
    files = {"/app/app.json": app_json("npm run migrate"), "/app/package.json": PACKAGE_WITH_MIGRATE}
    with pytest.raises(UserError, match=r"^/app/app\.json must be shaped like"):
        detect(DEFAULT, "/app", image_files(files))


def test_a_package_json_of_an_unexpected_shape_is_left_to_npm():
    assert detect(DEFAULT, "/app", image_files({"/app/package.json": b'["not", "a", "package"]'})) is None


def test_a_broken_manifest_offers_the_callers_way_out():
    with pytest.raises(UserError, match=r"fix it, or pass the command with --command 'CMD'$"):
        detect(DEFAULT, "/app", image_files({"/app/app.json": b"{"}), otherwise="pass the command with --command 'CMD'")


def test_an_app_json_that_is_not_json_is_refused_naming_its_path():
    with pytest.raises(UserError, match=r"^/app/app\.json in the image is not valid JSON"):
        detect(DEFAULT, "/app", image_files({"/app/app.json": b'{"migrations": {"command": "x" "y"}}'}))


def test_json_nested_deeper_than_the_limit_is_refused_before_parsing():
    deep = b"[" * (MAX_NESTING + 1) + b"]" * (MAX_NESTING + 1)
    with pytest.raises(UserError, match=f"nested more than {MAX_NESTING} levels deep"):
        load_json("/app/package.json", deep)


def test_json_nested_exactly_to_the_limit_is_read():
    deep = b"[" * MAX_NESTING + b"]" * MAX_NESTING
    assert isinstance(load_json("/app/package.json", deep), list)


def test_closing_brackets_inside_a_string_cannot_hide_nesting_beyond_the_limit():
    hidden = "]" * (MAX_NESTING + 100)
    nested = "[" * (MAX_NESTING + 50) + "]" * (MAX_NESTING + 50)
    document = ('{"description": "' + hidden + '", "deep": ' + nested + "}").encode()
    with pytest.raises(UserError, match="levels deep"):
        load_json("/app/package.json", document)


# --- rules as `migrations:set detect` receives them --------------------------------------------

def test_a_rule_is_split_into_file_jsonpath_and_command():
    assert parse_rule("package.json:$.scripts.migrate=>npm run migrate") == \
        Rule("package.json", "$.scripts.migrate", "npm run migrate")


def test_a_rule_is_stored_with_the_spaces_around_its_parts_removed():
    assert str(parse_rule(" package.json : $.scripts.migrate =>  npm run migrate ")) == \
        "package.json:$.scripts.migrate=>npm run migrate"


def test_a_rule_command_may_itself_contain_an_arrow_and_colons():
    assert parse_rule("Rakefile.json:$.tasks.db=>rake db:migrate => log").command == "rake db:migrate => log"


def test_a_rule_may_use_recursive_descent_in_its_jsonpath():
    assert parse_rule("app.json:$..migrate=>./migrate").jsonpath == "$..migrate"


def test_a_rule_without_an_arrow_runs_the_command_found_at_its_jsonpath():
    assert parse_rule("app.json:$.migrations.command") == Rule("app.json", "$.migrations.command", "")


def test_a_rule_without_an_arrow_is_stored_without_one():
    assert str(parse_rule(" app.json : $.migrations.command ")) == "app.json:$.migrations.command"


def test_a_rule_without_an_arrow_runs_whatever_its_file_says():
    rule = parse_rule("deploy/migrations.json:$.command")
    files = {"/app/deploy/migrations.json": json.dumps({"command": "goose up"}).encode()}
    assert detect([rule], "/app", image_files(files)).command == "goose up"


def test_a_rule_without_a_colon_before_the_arrow_is_refused_showing_both_forms():
    with pytest.raises(UserError, match=r"write it as file:jsonpath=>command, or file:jsonpath to run the command "
                                        r"written there, e\.g\. 'package\.json:"):
        parse_rule("package.json=>npm run migrate")


def test_a_rule_that_is_only_a_file_name_is_refused_showing_both_forms():
    with pytest.raises(UserError, match="write it as file:jsonpath=>command, or file:jsonpath"):
        parse_rule("app.json")


@pytest.mark.parametrize("file", ["../package.json", "app/../../etc/passwd.json", "/app/../package.json", ".."])
def test_a_rule_whose_file_climbs_out_with_dotdot_is_refused(file):
    with pytest.raises(UserError, match="is not a file path inside the image"):
        parse_rule(f"{file}:$.scripts.migrate=>npm run migrate")


@pytest.mark.parametrize("file", ["", "config/"], ids=["empty", "directory"])
def test_a_rule_whose_file_is_not_a_file_path_is_refused(file):
    with pytest.raises(UserError, match="is not a file path inside the image"):
        parse_rule(f"{file}:$.scripts.migrate=>npm run migrate")


@pytest.mark.parametrize("jsonpath", ["$.[", "$.scripts[", ""], ids=["open-bracket", "open-index", "empty"])
def test_a_rule_with_a_bad_jsonpath_is_refused_naming_it(jsonpath):
    with pytest.raises(UserError, match=re.escape(f"'{jsonpath}' is not a JSONPath")):
        parse_rule(f"package.json:{jsonpath}=>npm run migrate")


def test_a_rule_with_an_arrow_and_an_empty_command_is_refused_pointing_to_the_form_without_it():
    with pytest.raises(UserError, match="the command after '=>' is empty; to run the command written in the file, "
                                        "leave out the '=>'"):
        parse_rule("package.json:$.scripts.migrate=>  ")


@pytest.mark.parametrize("breaker", ["\n", "\r", "\0"], ids=["newline", "carriage-return", "nul"])
def test_a_rule_spanning_more_than_one_line_is_refused(breaker):
    with pytest.raises(UserError, match="must be one line"):
        parse_rule(f"package.json:$.scripts.migrate=>npm run migrate{breaker}rm -rf /")


# --- the dotted fast path: jsonpath-ng's answer without jsonpath-ng ----------------------------

DOTTED_PATHS = ["$.scripts.migrate", "$.migrations.command", "$.scripts.db-migrate", '$.scripts."db:migrate"',
                "$.scripts.'db:migrate'", '$."a.b"', "$.a_b.c9", "$._x", '$."0"', "$.a.b.c.d", '$."x y"',
                "$.'a\"b'", '$."a\'b"', "$.scripts.where2"]
DOCUMENTS = [{}, [], "text", None, 1, True,
             {"scripts": {"migrate": "x", "db-migrate": None, "db:migrate": ["a"], "where2": 0}},
             {"scripts": []}, {"scripts": "text"}, {"scripts": None}, {"migrations": {"command": 5}},
             {"a.b": 1, "a": {"b": 2}}, {"a_b": {"c9": {}}}, {"_x": False}, {"0": 0}, [{"0": 1}],
             {"a": {"b": {"c": {"d": [1]}}}}, {"a": {"b": [{"c": 1}]}}, {"x y": "z"}, {"a\"b": 1, "a'b": 2}]


@pytest.mark.parametrize("jsonpath", DOTTED_PATHS)
def test_a_dotted_path_finds_exactly_what_jsonpath_ng_finds(jsonpath):
    from jsonpath_ng import parse
    parsed = parse(jsonpath)
    assert dotted_keys(jsonpath) is not None
    for document in DOCUMENTS:
        assert finder(jsonpath)(document) == [match.value for match in parsed.find(document)], document


@pytest.mark.parametrize("jsonpath", ["$", "$.where", "$.wherenot", "$.*", "$.a[0]", "$..a", "$.a.*", '$."*"',
                                      "$.a b", "$ .a", "$.'a\\'b'", '$.""', "$.@a", "$.0", "a.b", "$.a|$.b",
                                      "$.a.`this`", "$['a']"])
def test_any_other_path_is_left_to_jsonpath_ng(jsonpath):
    assert dotted_keys(jsonpath) is None


def test_the_default_rules_are_read_without_importing_jsonpath_ng():
    code = ("import sys, json; from dokku_migrations.run.manifest import DEFAULT_RULES, detect, parse_rule; "
            "rules = [parse_rule(r) for r in DEFAULT_RULES]; "
            "files = {'/app/package.json': json.dumps({'scripts': {'migrate': 'x'}}).encode()}; "
            "found = detect(rules, '/app', lambda paths: {p: files.get(p) for p in paths}); "
            "assert found.command == 'npm run migrate'; "
            "print('jsonpath_ng' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "False"
