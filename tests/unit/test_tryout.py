"""`try`: argument parsing, and which database it starts with which URL; pure, checked before Docker is
touched."""

import json

import pytest

from dokku_migrations.common.errors import UserError
from dokku_migrations.database.server import MARIADB, MYSQL, POSTGRES
from dokku_migrations.docker.image import ImageInfo
from dokku_migrations.run.manifest import DEFAULT_RULES, declared_database, detect, parse_rule
from dokku_migrations.tryout.main import (
    ImageFiles,
    choose_database,
    find_command,
    parse_args,
    parse_database,
    parse_env,
    parse_env_file,
    ready_wait,
    url_for,
)


def test_env_values_may_hold_anything_after_the_first_equals():
    value = "a=b '\"$HOME`id`\n\\ ✓"

    assert parse_env([f"TOKEN={value}", "EMPTY="], {}) == {"TOKEN": value, "EMPTY": ""}


def test_an_env_option_without_a_value_takes_it_from_the_environment_never_from_argv():
    value = "s3cr3t 'quoted' ✓"

    assert parse_env(["TOKEN"], {"TOKEN": value, "OTHER": "x"}) == {"TOKEN": value}


def test_an_env_option_without_a_value_that_is_not_in_the_environment_is_refused():
    with pytest.raises(UserError, match=r"^Invalid --env 'TOKEN': TOKEN is not set in this environment: export it "
                                        r"first, or give it as --env TOKEN=VALUE$"):
        parse_env(["TOKEN"], {})


ENV_FILE = "\ufeff# the shop's secrets\n\n  TOKEN=a=b 'c' \"d\" $HOME # not a comment\nEMPTY=\nFROM_ENV\n"


def test_an_env_file_is_read_as_docker_reads_one():
    assert parse_env_file("shop.env", ENV_FILE, {"FROM_ENV": "inherited"}) == {
        "TOKEN": "a=b 'c' \"d\" $HOME # not a comment", "EMPTY": "", "FROM_ENV": "inherited"}


def test_an_env_file_line_with_a_bad_key_is_refused_naming_the_line_not_the_value():
    with pytest.raises(UserError) as error:
        parse_env_file("shop.env", "GOOD=1\nBAD KEY=secret-value\n", {})

    assert error.value.message.startswith("Invalid --env-file shop.env line 2 key 'BAD KEY'")
    assert "secret-value" not in error.value.message


def test_an_env_file_key_not_in_the_environment_is_refused_not_left_out():
    with pytest.raises(UserError, match=r"^Invalid --env-file shop.env line 1: FROM_ENV is not set"):
        parse_env_file("shop.env", "FROM_ENV\n", {})


def test_env_options_win_over_env_files(tmp_path):
    path = tmp_path / "shop.env"
    path.write_text("TOKEN=from-file\nONLY_FILE=1\n")

    options = parse_args(["shop:latest", "--env-file", str(path), "--env", "TOKEN"], {"TOKEN": "from-env"})

    assert options.env == {"TOKEN": "from-env", "ONLY_FILE": "1"}


def test_a_missing_env_file_is_one_line(tmp_path):
    with pytest.raises(UserError, match=r"^Cannot read --env-file .*missing.env \(No such file or directory\)"):
        parse_args(["shop:latest", "--env-file", str(tmp_path / "missing.env")], {})


def test_an_env_key_that_is_not_a_variable_name_is_refused_without_showing_the_value():
    with pytest.raises(UserError) as error:
        parse_env(["BAD KEY=secret-value"], {})

    assert "BAD KEY" in error.value.message and "secret-value" not in error.value.message


def test_a_variable_the_docker_client_reads_itself_is_accepted_for_the_container():
    assert parse_env(["DOCKER_HOST=tcp://elsewhere:2375"], {}) == {"DOCKER_HOST": "tcp://elsewhere:2375"}


def test_defaults_are_no_database_flag_and_the_deploy_timeout():
    options = parse_args(["shop:latest"], {})

    assert (options.image, options.database, options.database_image, options.postgres_image, options.timeout,
            options.command, options.env) == ("shop:latest", None, None, None, 1800, None, {})


@pytest.mark.parametrize("value", ["5m", "-1", ""], ids=["unit", "negative", "empty"])
def test_a_timeout_that_is_not_a_whole_number_is_refused_naming_the_flag(value):
    with pytest.raises(UserError) as error:
        parse_args(["shop:latest", "--timeout", value], {})
    assert error.value.message == (f"Invalid --timeout '{value}': use a whole number of seconds, 0 for no timeout, "
                                   "e.g. --timeout 600")


@pytest.mark.parametrize("value", ["", "  "], ids=["empty", "blank"])
def test_an_empty_command_is_refused_pointing_at_leaving_the_flag_out(value):
    with pytest.raises(UserError) as error:
        parse_args(["shop:latest", "--command", value], {})
    assert error.value.message == ("--command is empty: give the migration command, e.g. --command 'npm run migrate', "
                                   "or leave --command out to find it in the image as a deploy does")


def test_a_missing_image_argument_is_one_line_with_the_usage():
    with pytest.raises(UserError, match=r"^The following arguments are required: image; usage: "):
        parse_args([], {})


def test_a_multi_line_command_is_refused():
    with pytest.raises(UserError, match="one line"):
        parse_args(["shop:latest", "--command", "npm run migrate\nrm -rf /"], {})


def test_the_database_wait_comes_from_the_environment_and_must_be_a_number():
    assert ready_wait({}) == 60
    assert ready_wait({"DM_TRY_DATABASE_WAIT": "2.5"}) == 2.5
    with pytest.raises(UserError, match="DM_TRY_DATABASE_WAIT must be a number"):
        ready_wait({"DM_TRY_DATABASE_WAIT": "soon"})


def test_the_wait_keeps_its_old_postgres_name_when_the_new_one_is_unset():
    assert ready_wait({"DM_TRY_POSTGRES_WAIT": "7"}) == 7
    assert ready_wait({"DM_TRY_POSTGRES_WAIT": "7", "DM_TRY_DATABASE_WAIT": "9"}) == 9
    with pytest.raises(UserError, match="DM_TRY_POSTGRES_WAIT must be a number"):
        ready_wait({"DM_TRY_POSTGRES_WAIT": "soon"})


# --- which database: TYPE[:VERSION], declared in app.json or given as a flag --------------------------
def nothing_declared():
    return None


def declares(value: str):
    return lambda: ("/app/app.json $.migrations.database", value)


def never_read():
    raise AssertionError("the declaration must not be read when a flag decides")


@pytest.mark.parametrize("text,kind,version", [
    ("postgres", POSTGRES, ""), ("postgresql:15", POSTGRES, "15"), ("mysql:8.0", MYSQL, "8.0"),
    ("mariadb:10.11", MARIADB, "10.11"), ("MariaDB:11.4", MARIADB, "11.4"), (" mysql : 8.4 ", MYSQL, "8.4"),
    ("postgres:16-alpine", POSTGRES, "16-alpine")])
def test_a_database_is_a_type_with_an_optional_version(text, kind, version):
    assert parse_database(text, "--database") == (kind, version)


def test_an_unsupported_type_in_the_flag_is_one_line_listing_the_supported_types():
    with pytest.raises(UserError) as error:
        parse_database("mongodb:7", "--database")

    assert error.value.message == ("Unsupported database type 'mongodb' in --database: try supports postgres "
                                   "(or postgresql), mysql and mariadb; pass one of them to --database, as TYPE or "
                                   "TYPE:VERSION (mariadb:10.11)")


def test_an_unsupported_type_in_app_json_names_the_file_and_the_flag_that_overrides_it():
    with pytest.raises(UserError) as error:
        choose_database(None, None, None, declares("sqlite"))

    assert error.value.message == ("Unsupported database type 'sqlite' in /app/app.json $.migrations.database: try "
                                   "supports postgres (or postgresql), mysql and mariadb; declare one of them "
                                   "(\"mariadb:10.11\"), or override it with --database TYPE[:VERSION]")


def test_an_image_name_is_not_a_database_type():
    with pytest.raises(UserError, match="^Unsupported database type 'docker.io/library/mariadb'"):
        parse_database("docker.io/library/mariadb:10.11", "--database")


def test_a_version_that_cannot_be_an_image_tag_is_refused():
    with pytest.raises(UserError, match=r"^Invalid database version '10 11' in --database: .* e.g. mariadb:11.4$"):
        parse_database("mariadb:10 11", "--database")


def test_a_bad_database_flag_is_refused_while_parsing_the_arguments():
    with pytest.raises(UserError, match="^Unsupported database type 'oracle' in --database"):
        parse_args(["shop:latest", "--database", "oracle"], {})


def test_without_flag_or_declaration_it_is_postgres_16():
    database = choose_database(None, None, None, nothing_declared)

    assert (database.kind, database.image) == (POSTGRES, "postgres:16")


@pytest.mark.parametrize("declared,image", [
    ("mariadb:10.11", "mariadb:10.11"), ("mariadb", "mariadb:11.4"), ("mysql", "mysql:8.4"),
    ("mysql:8.0", "mysql:8.0"), ("postgresql:15", "postgres:15")])
def test_a_declared_type_maps_to_its_official_image_at_the_version_or_the_default(declared, image):
    assert choose_database(None, None, None, declares(declared)).image == image


def test_the_declaration_says_where_it_came_from():
    database = choose_database(None, None, None, declares("mariadb:10.11"))

    assert database.source == "as /app/app.json $.migrations.database declares (mariadb:10.11)"


def test_the_flag_overrides_the_declaration_without_reading_it():
    database = choose_database("postgres", None, None, never_read)

    assert (database.kind, database.image, database.source) == (POSTGRES, "postgres:16", "as --database postgres asks")


def test_a_database_image_is_used_as_it_is_for_the_declared_type():
    database = choose_database(None, "dm-mariadb:10.11", None, declares("mariadb:10.11"))

    assert (database.kind, database.image) == (MARIADB, "dm-mariadb:10.11")


def test_the_postgres_image_flag_still_means_postgres_whatever_is_declared():
    database = choose_database(None, None, "dm-postgres:15", never_read)

    assert (database.kind, database.image) == (POSTGRES, "dm-postgres:15")


def test_the_postgres_image_flag_with_another_type_is_refused():
    with pytest.raises(UserError, match="^--postgres-image starts PostgreSQL, but --database asks for 'mysql'"):
        choose_database("mysql", None, "dm-postgres:15", never_read)


def test_two_database_images_are_refused():
    with pytest.raises(UserError, match="pass only one$"):
        choose_database(None, "a:1", "b:2", never_read)


def test_conflicting_database_flags_are_refused_while_parsing_the_arguments():
    with pytest.raises(UserError, match="^--postgres-image starts PostgreSQL"):
        parse_args(["shop:latest", "--database", "mariadb", "--postgres-image", "dm-postgres:15"], {})


# --- each type: its container, its readiness check, its URL ------------------------------------------
def test_postgres_gets_its_password_and_a_postgres_url_on_host_db():
    assert POSTGRES.container_env("pw", "root") == {"POSTGRES_PASSWORD": "pw"}
    assert url_for(POSTGRES, "pw", {}) == "postgres://postgres:pw@db:5432/postgres"


@pytest.mark.parametrize("kind,user", [(MYSQL, "mysql"), (MARIADB, "mariadb")])
def test_mysql_and_mariadb_get_a_root_password_a_user_and_a_database_and_a_mysql_url(kind, user):
    assert kind.container_env("pw", "root") == {"MYSQL_ROOT_PASSWORD": "root", "MYSQL_DATABASE": "app",
                                                "MYSQL_USER": user, "MYSQL_PASSWORD": "pw"}
    assert url_for(kind, "pw", {}) == f"mysql://{user}:pw@db:3306/app"


@pytest.mark.parametrize("kind,key,scheme", [(MYSQL, "MYSQL_DATABASE_SCHEME", "mysql2"),
                                             (MARIADB, "MARIADB_DATABASE_SCHEME", "mysql2"),
                                             (POSTGRES, "POSTGRES_DATABASE_SCHEME", "postgresql")])
def test_the_apps_config_picks_another_scheme_as_with_dokkus_database_plugins(kind, key, scheme):
    assert url_for(kind, "pw", {key: scheme}).startswith(f"{scheme}://{kind.user}:pw@db:")


def test_another_types_scheme_variable_is_left_alone():
    assert url_for(MARIADB, "pw", {"MYSQL_DATABASE_SCHEME": "mysql2"}).startswith("mysql://")


def test_a_scheme_that_cannot_start_a_url_is_refused():
    with pytest.raises(UserError, match="^Invalid --env MYSQL_DATABASE_SCHEME 'my sql'"):
        url_for(MYSQL, "pw", {"MYSQL_DATABASE_SCHEME": "my sql"})


def test_postgres_is_ready_when_pg_isready_says_so():
    assert POSTGRES.readiness("pw") == (["pg_isready", "-q", "-h", "127.0.0.1", "-U", "postgres"], {})


@pytest.mark.parametrize("kind", [MYSQL, MARIADB])
def test_mysql_and_mariadb_are_ready_when_the_apps_user_queries_over_tcp_with_the_password_outside_argv(kind):
    argv, env = kind.readiness("secret-pw")

    assert argv[:2] == ["sh", "-c"] and "--protocol=tcp -h 127.0.0.1 -P 3306" in argv[2]
    assert '-u "$1" -D "$2"' in argv[2] and argv[-2:] == [kind.user, "app"] and "SELECT 1" in argv[2]
    assert "secret-pw" not in " ".join(argv)
    assert env == {"MYSQL_PWD": "secret-pw"}


def test_mariadb_images_are_checked_with_mariadb_first_as_newer_ones_have_no_mysql_client():
    assert MARIADB.readiness("pw")[0][2].startswith('client="$(command -v mariadb || command -v mysql)"')


# --- the declaration in app.json -----------------------------------------------------------------------
def app_json(document) -> bytes:
    return json.dumps(document).encode()


def test_app_json_declares_the_database_beside_the_command():
    files = {"/app/app.json": app_json({"migrations": {"command": "bin/migrate", "database": " mariadb:10.11 "}})}

    assert declared_database("/app", files) == ("/app/app.json $.migrations.database", "mariadb:10.11")


def test_the_declaration_is_read_from_the_first_app_json_as_detection_reads_the_command():
    files = {"/srv/app.json": app_json({"name": "shop"}),
             "/app/app.json": app_json({"migrations": {"database": "mysql"}})}

    assert declared_database("/srv", files) is None


@pytest.mark.parametrize("document", [{}, {"migrations": "npm run migrate"}, {"migrations": {"database": ""}}, []])
def test_no_declaration_or_an_empty_one_means_none(document):
    assert declared_database("/app", {"/app/app.json": app_json(document)}) is None


def test_a_declaration_that_is_not_a_string_is_refused_naming_the_file():
    files = {"/app/app.json": app_json({"migrations": {"database": {"type": "mariadb"}}})}

    with pytest.raises(UserError, match=r"^\$.migrations.database in /app/app.json must be a database type and "
                                        "version such as \"mariadb:10.11\" \\(a string\\), but it is an object"):
        declared_database("/app", files)


def test_an_app_json_with_only_a_database_is_no_migration_command_so_package_json_still_counts():
    files = {"/app/app.json": app_json({"migrations": {"database": "mysql:8.4"}}),
             "/app/package.json": app_json({"scripts": {"migrate": "knex migrate:latest"}})}
    rules = [parse_rule(rule) for rule in DEFAULT_RULES]

    detection = detect(rules, "/app", lambda paths: {path: files.get(path) for path in paths})

    assert detection is not None and (detection.path, detection.command) == ("/app/package.json", "npm run migrate")


class RecordingDocker:
    """Serves files as an image would and records each probe container's paths (one call, one probe)."""

    def __init__(self, files):
        self.files = files
        self.probes = []

    def read_file(self, image, paths, owner="", for_app=True):
        assert (owner, for_app) == ("try", False)  # no app's label: no app's run ever takes them for its own
        self.probes.append(list(paths))
        return {path: self.files.get(path) for path in paths}


def image_at(workdir):
    return ImageInfo(ref="shop:1", id="sha256:1", entrypoint=[], labels={}, env=[], repo_tags=[], workdir=workdir)


def test_the_command_and_the_database_are_read_through_one_probe_container():
    docker = RecordingDocker({"/app/app.json": app_json({"migrations": {"command": "sh bin/migrate",
                                                                       "database": "mariadb:10.11"}})})
    files = ImageFiles(docker, image_at("/app"))

    command = find_command(files, None)
    declared = files.declared_database()

    assert (command, declared) == (("sh bin/migrate", "/app/app.json $.migrations.command"),
                                   ("/app/app.json $.migrations.database", "mariadb:10.11"))
    assert len(docker.probes) == 1


def test_with_a_given_command_the_declaration_alone_is_read_from_app_json():
    docker = RecordingDocker({"/app/app.json": app_json({"migrations": {"database": "mysql:8.4"}})})
    files = ImageFiles(docker, image_at("/srv"))

    assert find_command(files, "bin/migrate") == ("bin/migrate", "--command")
    assert files.declared_database() == ("/app/app.json $.migrations.database", "mysql:8.4")
    assert docker.probes == [["/srv/app.json", "/app/app.json"]]


@pytest.mark.parametrize("document", [b'{"migrations": {"command": "x" "y"}}', b'{"migrations": "npm run migrate"}'],
                         ids=["not-json", "migrations-string"])
def test_a_broken_app_json_points_at_the_command_flag_not_at_dokku_settings(document):
    files = ImageFiles(RecordingDocker({"/app/app.json": document}), image_at("/app"))

    with pytest.raises(UserError) as error:
        find_command(files, None)

    assert error.value.message.endswith("fix it, or pass the command with --command 'CMD'")
    assert "migrations:set" not in error.value.message


def test_a_broken_app_json_read_only_for_its_database_points_at_the_database_flag():
    files = ImageFiles(RecordingDocker({"/app/app.json": b"{"}), image_at("/app"))

    with pytest.raises(UserError, match=r"fix it, or name the database with --database TYPE\[:VERSION\]$"):
        files.declared_database()
