"""Settings: each key's validation, app > global > default, and storage where a bad `set` changes nothing."""

import stat

import pytest

from dokku_migrations.common.errors import UserError
from dokku_migrations.run.manifest import DEFAULT_RULES, parse_rule
from dokku_migrations.run.settings import (
    GLOBAL,
    KEYS,
    SettingsStore,
    key_named,
    parse_bool,
    parse_command,
    parse_cpus,
    parse_keep,
    parse_lock_retries,
    parse_lock_timeout,
    parse_memory,
    parse_quiet_after,
    parse_rules,
    parse_seconds,
    resolve,
)


@pytest.fixture
def store(tmp_path):
    return SettingsStore(tmp_path / "config" / "migrations")


# --- enabled ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value, stored", [("true", "true"), ("false", "false"), ("TRUE", "true"),
                                           (" False ", "false")])
def test_enabled_accepts_true_or_false_in_any_case_and_stores_it_lowercase(value, stored):
    assert parse_bool(value) == stored


@pytest.mark.parametrize("value", ["yes", "1", "", "on", "truthy"])
def test_enabled_refuses_anything_but_true_or_false(value):
    with pytest.raises(UserError, match="is not a boolean: use true or false"):
        parse_bool(value)


# --- timeout ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value, stored", [("1800", "1800"), ("0", "0"), ("007", "7"), ("999999999", "999999999")])
def test_timeout_accepts_whole_seconds_including_zero_for_none(value, stored):
    assert parse_seconds(value) == stored


@pytest.mark.parametrize("value", ["", "-1", "1.5", "10s", " 10", "1000000000"])
def test_timeout_refuses_anything_but_a_whole_number_of_up_to_nine_digits(value):
    with pytest.raises(UserError, match="is not a number of seconds"):
        parse_seconds(value)


# --- keep -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, stored", [("1", "1"), ("20", "20"), ("0100000", "100000")])
def test_keep_accepts_a_whole_number_from_1_to_100000(value, stored):
    assert parse_keep(value) == stored


@pytest.mark.parametrize("value", ["0", "100001", "-5", "", "ten"])
def test_keep_refuses_zero_negatives_and_more_than_100000(value):
    with pytest.raises(UserError, match="is not a number of runs to keep"):
        parse_keep(value)


# --- quiet-after ------------------------------------------------------------------------------

@pytest.mark.parametrize("value, stored", [("30", "30"), ("0", "0"), ("086400", "86400")])
def test_quiet_after_accepts_whole_seconds_from_zero_for_never_to_a_day(value, stored):
    assert parse_quiet_after(value) == stored


@pytest.mark.parametrize("value", ["86401", "-1", "1.5", "30s", ""])
def test_quiet_after_refuses_anything_else(value):
    with pytest.raises(UserError, match="is not a number of seconds of silence"):
        parse_quiet_after(value)


def test_a_quiet_migration_is_spoken_of_after_30_seconds_by_default():
    assert resolve({}, {}).quiet_after == 30


@pytest.mark.parametrize("parse", [parse_seconds, parse_keep], ids=["timeout", "keep"])
def test_a_number_setting_refuses_non_ascii_digits_with_a_readable_error(parse):
    with pytest.raises(UserError):
        parse("²")


# --- command ----------------------------------------------------------------------------------

def test_command_is_stored_without_surrounding_spaces():
    assert parse_command("  bundle exec rake db:migrate  ") == "bundle exec rake db:migrate"


def test_command_keeps_shell_syntax_as_written():
    assert parse_command("npm run migrate && echo 'done'") == "npm run migrate && echo 'done'"


@pytest.mark.parametrize("value", ["", "   "], ids=["empty", "blank"])
def test_command_refuses_an_empty_value(value):
    with pytest.raises(UserError, match="The command is empty"):
        parse_command(value)


@pytest.mark.parametrize("breaker", ["\n", "\r", "\0"], ids=["newline", "carriage-return", "nul"])
def test_command_refuses_more_than_one_line(breaker):
    with pytest.raises(UserError, match="must be one line"):
        parse_command(f"npm run migrate{breaker}rm -rf /")


# --- memory -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value, stored", [("512m", "512m"), ("1G", "1g"), ("1073741824", "1073741824"),
                                           ("64k", "64k"), ("100b", "100b")])
def test_memory_accepts_a_size_with_an_optional_unit_and_stores_it_lowercase(value, stored):
    assert parse_memory(value) == stored


@pytest.mark.parametrize("value", ["0", "512mb", "1.5g", "-1g", "m", "512 m", "", "0512m", "1t"])
def test_memory_refuses_anything_docker_would_not_take_as_a_size(value):
    with pytest.raises(UserError, match="is not a memory size"):
        parse_memory(value)


def test_memory_refuses_a_trailing_newline():
    with pytest.raises(UserError):
        parse_memory("512m\n")


# --- cpus -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0.5", "1", "1.5", "2", "16", "0.25", "0.05"])
def test_cpus_accepts_a_positive_number(value):
    assert parse_cpus(value) == value


@pytest.mark.parametrize("value", ["0", "0.0", "-1", ".5", "1.", "two", "", "01", "1e3"])
def test_cpus_refuses_zero_negatives_and_non_numbers(value):
    with pytest.raises(UserError, match="is not a number of CPUs"):
        parse_cpus(value)


def test_cpus_refuses_a_trailing_newline():
    with pytest.raises(UserError):
        parse_cpus("1\n")


# --- lock-timeout and lock-retries -----------------------------------------------------------

@pytest.mark.parametrize("value, stored", [("5", "5"), ("0.5", "0.5"), ("1.250", "1.25"), ("005", "5"),
                                           ("0.001", "0.001"), ("3600", "3600"), ("0", "0"), ("", "0"),
                                           ("0.000", "0")])
def test_lock_timeout_accepts_seconds_to_the_millisecond_and_empty_or_zero_for_off(value, stored):
    assert parse_lock_timeout(value) == stored


@pytest.mark.parametrize("value", ["5s", "-1", "3601", "0.0005", "1e3", " 5", "five", "²"])
def test_lock_timeout_refuses_anything_but_seconds_from_a_millisecond_to_an_hour(value):
    with pytest.raises(UserError, match="is not a lock timeout: use seconds from 0.001 to 3600"):
        parse_lock_timeout(value)


@pytest.mark.parametrize("value, stored", [("0", "0"), ("3", "3"), ("20", "20"), ("07", "7")])
def test_lock_retries_accepts_a_whole_number_from_0_to_20(value, stored):
    assert parse_lock_retries(value) == stored


@pytest.mark.parametrize("value", ["21", "-1", "", "1.5", "many"])
def test_lock_retries_refuses_anything_else(value):
    with pytest.raises(UserError, match="is not a number of retries: use a whole number from 0 to 20"):
        parse_lock_retries(value)


def test_by_default_a_migration_gives_up_on_a_lock_after_5_seconds_and_is_tried_3_more_times():
    resolved = resolve({}, {})

    assert resolved.lock_timeout == 5.0 and resolved.lock_retries == 3


def test_a_lock_timeout_set_globally_can_be_turned_off_for_one_app():
    resolved = resolve({"lock-timeout": "0"}, {"lock-timeout": "2.5"})

    assert resolved.lock_timeout == 0.0
    assert resolve({}, {"lock-timeout": "2.5"}).lock_timeout == 2.5


# --- detect -----------------------------------------------------------------------------------

def test_detect_stores_one_rule_per_line_normalised():
    value = ("app.json : $.migrations.command \npackage.json : $.scripts.migrate => npm run migrate\n\n"
             "composer.json:$.scripts.migrate=>composer migrate")
    assert parse_rules(value) == ("app.json:$.migrations.command\n"
                                  "package.json:$.scripts.migrate=>npm run migrate\n"
                                  "composer.json:$.scripts.migrate=>composer migrate")


def test_detect_refuses_the_whole_value_when_one_rule_is_bad():
    with pytest.raises(UserError, match="Invalid detect rule 'composer.json'"):
        parse_rules("package.json:$.scripts.migrate=>npm run migrate\ncomposer.json")


def test_detect_refuses_a_value_without_any_rule():
    with pytest.raises(UserError, match="No detect rule given"):
        parse_rules("\n  \n")


# --- keys -------------------------------------------------------------------------------------

def test_an_unknown_setting_is_refused_listing_the_known_ones():
    with pytest.raises(UserError) as error:
        key_named("retries")
    assert error.value.message == f"Unknown setting 'retries': use one of {', '.join(KEYS)}"


def test_every_default_value_passes_its_own_validation_or_is_empty():
    for key in KEYS.values():
        if key.default:
            assert key.parse(key.default) == key.default, key.name


# --- resolve: app > global > default ----------------------------------------------------------

def test_a_setting_nobody_set_has_its_default():
    resolved = resolve({}, {})
    assert resolved.values["timeout"] == ("1800", "default")


def test_a_global_value_beats_the_default():
    resolved = resolve({}, {"timeout": "60"})
    assert resolved.values["timeout"] == ("60", "global")


def test_an_app_value_beats_the_global_value():
    resolved = resolve({"timeout": "30"}, {"timeout": "60"})
    assert resolved.values["timeout"] == ("30", "app")


def test_each_setting_is_resolved_on_its_own():
    resolved = resolve({"keep": "5"}, {"timeout": "60"})
    assert [resolved.values[name][1] for name in ("keep", "timeout", "enabled")] == ["app", "global", "default"]


def test_resolved_settings_are_typed():
    resolved = resolve({"enabled": "false", "timeout": "90"}, {"keep": "3"})
    assert (resolved.enabled, resolved.timeout, resolved.keep) == (False, 90, 3)


def test_migrations_are_enabled_by_default():
    assert resolve({}, {}).enabled is True


def test_the_default_rules_read_app_json_then_package_json_then_composer_json():
    rules = resolve({}, {}).rules
    assert rules == [parse_rule(rule) for rule in DEFAULT_RULES]
    assert [(rule.file, rule.jsonpath, rule.command) for rule in rules] == [
        ("app.json", "$.migrations.command", ""),
        ("package.json", "$.scripts.migrate", "npm run migrate"),
        ("composer.json", "$.scripts.migrate", "composer run-script --timeout=0 migrate")]


# --- the store --------------------------------------------------------------------------------

def test_a_stored_value_is_read_back_as_validated(store):
    assert store.set("web", "enabled", "FALSE") == "false"
    assert store.read("web") == {"enabled": "false"}


def test_the_store_resolves_app_values_over_global_ones(store):
    store.set(GLOBAL, "timeout", "60")
    store.set(GLOBAL, "keep", "7")
    store.set("web", "timeout", "30")
    resolved = store.resolved("web")
    assert (resolved.values["timeout"], resolved.values["keep"]) == (("30", "app"), ("7", "global"))


def test_a_bad_value_changes_nothing_and_the_file_keeps_its_old_value(store):
    store.set("web", "timeout", "600")
    with pytest.raises(UserError):
        store.set("web", "timeout", "ten minutes")
    assert (store.root / "web" / "timeout").read_text() == "600"


def test_a_bad_value_for_a_new_setting_creates_no_file(store):
    with pytest.raises(UserError):
        store.set("web", "memory", "lots")
    assert not (store.root / "web").exists()


def test_a_set_leaves_no_temporary_files_behind(store):
    store.set("web", "command", "npm run migrate")
    store.set("web", "command", "npm run db:migrate")
    assert sorted(p.name for p in (store.root / "web").iterdir()) == ["command"]


def test_setting_no_value_unsets_the_key(store):
    store.set("web", "timeout", "60")
    assert store.set("web", "timeout", None) is None
    assert "timeout" not in store.read("web")


def test_unsetting_a_key_that_was_never_set_is_fine(store):
    assert store.set("web", "timeout", None) is None


def test_an_unknown_setting_is_refused_by_the_store_too(store):
    with pytest.raises(UserError, match="Unknown setting"):
        store.set("web", "retries", "3")


def test_setting_files_and_their_directory_are_private_to_the_dokku_user(store):
    store.set("web", "command", "npm run migrate")
    assert stat.S_IMODE((store.root / "web").stat().st_mode) == 0o700
    assert stat.S_IMODE((store.root / "web" / "command").stat().st_mode) == 0o600


def test_an_app_without_settings_reads_as_empty(store):
    assert store.read("web") == {}


def test_copying_an_app_copies_its_settings(store):
    store.set("web", "timeout", "60")
    store.copy("web", "web-staging")
    assert store.read("web-staging") == {"timeout": "60"}


def test_deleting_an_app_removes_its_settings_only(store):
    store.set("web", "timeout", "60")
    store.set(GLOBAL, "timeout", "90")
    store.delete("web")
    assert (store.read("web"), store.read(GLOBAL)) == ({}, {"timeout": "90"})


def test_preflight_is_off_by_default_and_takes_off_warn_or_block():
    assert resolve({}, {}).get("preflight") == "off"
    assert [KEYS["preflight"].parse(value) for value in ("off", "WARN", " block ")] == ["off", "warn", "block"]
    with pytest.raises(UserError, match="^'sometimes' is not a pre-flight mode: use off, warn or block$"):
        KEYS["preflight"].parse("sometimes")


# --- values as Dokku's property files hold them ---------------------------------------------------
def write(store, scope, key, text):
    (store.root / scope).mkdir(parents=True, exist_ok=True)
    (store.root / scope / key).write_text(text)


@pytest.mark.parametrize("key,text,read", [("enabled", "true\n", "true"), ("enabled", "FALSE\n", "false"),
                                           ("timeout", "600\n", "600"), ("command", "npm run migrate\n",
                                                                         "npm run migrate"),
                                           ("detect", "package.json:$.scripts.migrate=>npm run migrate\n",
                                            "package.json:$.scripts.migrate=>npm run migrate")])
def test_a_trailing_newline_is_not_part_of_a_value(store, key, text, read):
    """`echo true > …` and Dokku's list properties end a file with one; Dokku's `prop get-all` drops it."""
    write(store, "shop", key, text)

    assert store.read("shop")[key] == read


def test_enabled_with_a_trailing_newline_means_enabled(store):
    write(store, "shop", "enabled", "true\n")
    assert store.resolved("shop").enabled


@pytest.mark.parametrize("scope,shown", [("shop", "shop"), (GLOBAL, "--global")])
def test_a_value_the_key_refuses_is_refused_naming_its_file_never_read_as_false(store, scope, shown):
    write(store, scope, "enabled", "ture\n")

    with pytest.raises(UserError) as error:
        store.resolved("shop")

    assert error.value.message == (
        f"Setting enabled in {store.root / scope / 'enabled'} is not valid: 'ture' is not a boolean: use true or "
        f"false; set it again with 'dokku migrations:set {shown} enabled VALUE', or unset it with "
        f"'dokku migrations:set {shown} enabled'")


def test_a_setting_file_that_is_not_text_is_refused_naming_it(store):
    (store.root / "shop").mkdir(parents=True)
    (store.root / "shop" / "timeout").write_bytes(b"\xff\xfe")

    with pytest.raises(UserError, match="Could not read setting timeout .*: check .*timeout"):
        store.read("shop")
