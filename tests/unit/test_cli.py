"""Parsing `dokku migrations:*` argv: words, known flags, and one readable error for anything else."""

import subprocess
from pathlib import Path

import pytest

from dokku_migrations.common.errors import UserError
from dokku_migrations.entry.cli import SUMMARY, app_from, help_text, no_extra, output_format, positive_int, split
from dokku_migrations.run.settings import KEYS

REPO = Path(__file__).resolve().parents[2]


def test_the_command_name_words_and_flags_are_separated():
    parsed = split(["migrations:run", "web", "--dry-run"], valued=["--image"], bare=["--dry-run"])
    assert (parsed.name, parsed.words, parsed.flags) == ("migrations:run", ["web"], {"--dry-run": ""})


def test_a_valued_flag_takes_its_value_after_an_equals_sign():
    parsed = split(["migrations:run", "web", "--image=dokku/web:v2"], valued=["--image"], bare=[])
    assert parsed.flags == {"--image": "dokku/web:v2"}


def test_a_valued_flag_takes_the_next_word_as_its_value():
    parsed = split(["migrations:run", "--image", "dokku/web:v2", "web"], valued=["--image"], bare=[])
    assert (parsed.words, parsed.flags) == (["web"], {"--image": "dokku/web:v2"})


def test_a_value_may_itself_contain_equals_signs():
    parsed = split(["migrations:run", "--image=reg/x:tag=1"], valued=["--image"], bare=[])
    assert parsed.flags == {"--image": "reg/x:tag=1"}


def test_a_valued_flag_at_the_end_without_a_value_is_refused_showing_how_to_write_it():
    with pytest.raises(UserError) as error:
        split(["migrations:history", "web", "--limit"], valued=["--limit"], bare=[])
    assert error.value.message == "--limit needs a value: write it as '--limit N' (see 'dokku migrations:help')"


def test_an_image_flag_without_a_value_says_to_name_the_image():
    with pytest.raises(UserError) as error:
        split(["migrations:run", "shop", "--image"], valued=["--image"], bare=["--dry-run"])
    assert error.value.message == "--image needs a value: write it as '--image IMAGE' (see 'dokku migrations:help')"


def test_a_valued_flag_followed_by_another_flag_does_not_take_that_flag_as_its_value():
    with pytest.raises(UserError, match=r"^--image needs a value"):
        split(["migrations:run", "shop", "--image", "--dry-run"], valued=["--image"], bare=["--dry-run"])


@pytest.mark.parametrize("argv", [["--image="], ["--image", ""]], ids=["equals", "empty-word"])
def test_an_empty_value_is_refused_rather_than_falling_back_to_the_default(argv):
    with pytest.raises(UserError, match=r"^--image needs a value"):
        split(["migrations:run", "shop", *argv], valued=["--image"], bare=[])


def test_an_unknown_flag_is_refused_naming_it_and_the_command():
    with pytest.raises(UserError) as error:
        split(["migrations:run", "web", "--force"], valued=["--image"], bare=["--dry-run"])
    assert error.value.message == "Unknown option --force for migrations:run: see 'dokku migrations:help'"


def test_an_unknown_flag_with_a_value_is_refused_too():
    with pytest.raises(UserError, match="Unknown option --force=yes"):
        split(["migrations:run", "web", "--force=yes"], valued=[], bare=[])


def test_a_bare_flag_given_a_value_is_not_taken_as_that_flag():
    with pytest.raises(UserError, match="Unknown option --dry-run=yes"):
        split(["migrations:run", "web", "--dry-run=yes"], valued=[], bare=["--dry-run"])


def test_flags_sharing_a_known_prefix_are_accepted_as_bare_flags():
    parsed = split(["migrations:report", "web", "--migrations-computed-timeout"], valued=[], bare=[],
                   prefix_bare="--migrations-")
    assert parsed.flags == {"--migrations-computed-timeout": ""}


def test_everything_after_a_double_dash_is_a_word():
    parsed = split(["migrations:set", "web", "command", "--", "rake", "--trace"], valued=[], bare=[])
    assert (parsed.words, parsed.flags) == (["web", "command", "rake", "--trace"], {})


def test_a_lone_double_dash_word_is_not_a_flag():
    assert split(["migrations:set", "--"], valued=[], bare=[]).words == []


def test_an_empty_argv_parses_to_nothing():
    parsed = split([], valued=[], bare=[])
    assert (parsed.name, parsed.words, parsed.flags) == ("", [], {})


def test_the_app_is_the_first_word():
    parsed = split(["migrations:logs", "web", "3"], valued=[], bare=[])
    assert (app_from(parsed, None), parsed.words) == ("web", ["3"])


def test_with_dokkus_app_flag_no_word_is_taken_as_the_app():
    parsed = split(["migrations:set", "timeout", "60"], valued=[], bare=[])
    assert (app_from(parsed, "shop"), parsed.words) == ("shop", ["timeout", "60"])


def test_an_app_flag_left_in_argv_names_the_app_and_is_no_word():
    parsed = split(["migrations:set", "--app", "shop", "timeout", "60"], valued=[], bare=[])
    assert (app_from(parsed, "shop"), parsed.words) == ("shop", ["timeout", "60"])


def test_the_app_comes_from_dokkus_app_flag_when_no_word_names_it():
    assert app_from(split(["migrations:logs"], valued=[], bare=[]), "web") == "web"


def test_a_command_without_an_app_is_refused_with_its_usage():
    with pytest.raises(UserError) as error:
        app_from(split(["migrations:logs"], valued=[], bare=[]), None)
    assert error.value.message == "Please specify an app to run the command on: dokku migrations:logs <app>"


def test_a_positive_int_accepts_a_whole_number_from_one():
    assert positive_int("--limit", "15") == 15


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "ten", ""])
def test_a_positive_int_refuses_anything_else_naming_the_option(value):
    with pytest.raises(UserError) as error:
        positive_int("--limit", value)
    assert error.value.message == f"--limit must be a whole number from 1, not '{value}'"


def test_a_positive_int_refuses_non_ascii_digits_with_a_readable_error():
    with pytest.raises(UserError):
        positive_int("--limit", "²")


def test_the_output_format_defaults_to_the_first_allowed():
    assert output_format(split(["migrations:report"], valued=["--format"], bare=[]), ["stdout", "json"]) == "stdout"


def test_an_allowed_output_format_is_taken():
    parsed = split(["migrations:report", "--format", "json"], valued=["--format"], bare=[])
    assert output_format(parsed, ["stdout", "json"]) == "json"


def test_an_unknown_output_format_is_refused_listing_the_allowed_ones():
    parsed = split(["migrations:report", "--format=yaml"], valued=["--format"], bare=[])
    with pytest.raises(UserError) as error:
        output_format(parsed, ["stdout", "json"])
    assert error.value.message == "Invalid --format 'yaml': use stdout or json"


def test_a_left_over_word_is_refused():
    parsed = split(["migrations:run", "web", "extra"], valued=[], bare=[])
    app_from(parsed, None)
    with pytest.raises(UserError, match="Unexpected argument 'extra' for migrations:run"):
        no_extra(parsed)


def test_no_left_over_words_is_fine():
    parsed = split(["migrations:run", "web"], valued=[], bare=[])
    app_from(parsed, None)
    no_extra(parsed)


# What the documentation lists: every command and every setting.
DOCUMENTED_COMMANDS = ["migrations:help", "migrations:run", "migrations:rollback", "migrations:preflight",
                       "migrations:set", "migrations:report", "migrations:history", "migrations:logs"]
DOCUMENTED_SETTINGS = ["enabled", "command", "rollback-command", "timeout", "grace", "quiet-after", "detect", "keep",
                       "memory", "cpus", "database-url-key", "database-image", "preflight",
                       "lock-timeout", "lock-retries"]


def test_the_help_lists_every_documented_command_and_setting_and_nothing_else():
    from dokku_migrations.entry.commands import COMMANDS
    lines = help_text().splitlines()
    listed = [line.split()[0] for line in lines if line.startswith("    migrations:")]
    settings = [line.split()[0] for line in lines[lines.index("Settings (app value, else global value, else default):")
                                                  + 1:]]
    assert listed == DOCUMENTED_COMMANDS
    assert sorted(name for name in COMMANDS if name.startswith("migrations:")) == sorted(DOCUMENTED_COMMANDS)
    assert settings == DOCUMENTED_SETTINGS
    assert list(KEYS) == DOCUMENTED_SETTINGS


@pytest.mark.parametrize("argv", [["migrations:help"], ["migrations"]])
def test_the_commands_shim_prints_help_txt_without_python(argv):
    result = subprocess.run(["/bin/bash", str(REPO / "commands"), *argv], capture_output=True, text=True,
                            env={"PATH": "/nonexistent"})
    assert (result.returncode, result.stdout, result.stderr) == (0, (REPO / "help.txt").read_text(), "")
    assert result.stdout.startswith("Usage: dokku migrations[:COMMAND]\n")


def test_dokku_help_gets_the_summary_from_the_shim():
    result = subprocess.run(["/bin/bash", str(REPO / "commands"), "help"], capture_output=True, text=True,
                            env={"PATH": "/nonexistent"})
    assert result.stdout == "    migrations, Run database migrations from the incoming image before each deploy\n"
    assert SUMMARY == "Run database migrations from the incoming image before each deploy"
