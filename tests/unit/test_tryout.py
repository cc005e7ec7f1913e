"""`try` argument parsing: pure, checked before Docker is touched."""

import pytest

from dokku_migrations.errors import UserError
from dokku_migrations.tryout import DEFAULT_POSTGRES_IMAGE, parse_args, parse_env, ready_wait


def test_env_values_may_hold_anything_after_the_first_equals():
    value = "a=b '\"$HOME`id`\n\\ ✓"

    assert parse_env([f"TOKEN={value}", "EMPTY="]) == {"TOKEN": value, "EMPTY": ""}


def test_an_env_option_without_equals_is_refused():
    with pytest.raises(UserError, match=r"^Invalid --env 'TOKEN': write it as KEY=VALUE$"):
        parse_env(["TOKEN"])


def test_an_env_key_that_is_not_a_variable_name_is_refused_without_showing_the_value():
    with pytest.raises(UserError) as error:
        parse_env(["BAD KEY=secret-value"])

    assert "BAD KEY" in error.value.message and "secret-value" not in error.value.message


def test_a_variable_the_docker_client_reads_itself_is_accepted_for_the_container():
    assert parse_env(["DOCKER_HOST=tcp://elsewhere:2375"]) == {"DOCKER_HOST": "tcp://elsewhere:2375"}


def test_defaults_are_postgres_16_and_the_deploy_timeout():
    options = parse_args(["shop:latest"])

    assert (options.image, options.postgres_image, options.timeout, options.command, options.env) == (
        "shop:latest", DEFAULT_POSTGRES_IMAGE, 1800, None, {})


def test_a_timeout_that_is_not_a_whole_number_is_refused():
    with pytest.raises(UserError, match="not a number of seconds"):
        parse_args(["shop:latest", "--timeout", "5m"])


def test_a_missing_image_argument_is_one_line_with_the_usage():
    with pytest.raises(UserError, match=r"^The following arguments are required: image; usage: "):
        parse_args([])


def test_a_multi_line_command_is_refused():
    with pytest.raises(UserError, match="one line"):
        parse_args(["shop:latest", "--command", "npm run migrate\nrm -rf /"])


def test_the_postgres_wait_comes_from_the_environment_and_must_be_a_number():
    assert ready_wait({}) == 60
    assert ready_wait({"DM_TRY_POSTGRES_WAIT": "2.5"}) == 2.5
    with pytest.raises(UserError, match="DM_TRY_POSTGRES_WAIT must be a number"):
        ready_wait({"DM_TRY_POSTGRES_WAIT": "soon"})
