"""app.json as Dokku reads it since 0.37.0 (plugins/app-json/appjson.go ReadAppJSON: hujson, then
Standardize): comments and trailing commas become spaces, everything else is left for JSON to judge."""

import json
import re

import pytest

from dokku_migrations.common.errors import UserError
from dokku_migrations.run.jsonc import standardize
from dokku_migrations.run.manifest import DEFAULT_RULES, detect, load_json, parse_rule

DEFAULT = [parse_rule(text) for text in DEFAULT_RULES]

COMMENTED = b"""// app.json of the shop
{
  /* Dokku's own keys */
  "scripts": {"dokku": {"postdeploy": "echo deployed",}},  // a trailing comma
  "migrations": {
    "command": "npm run migrate", // what migrates it
  },
}
"""


def test_line_and_block_comments_become_spaces_on_the_same_lines():
    assert standardize('{"a": 1 // one\n, /* two\n three */ "b": 2}') == \
        '{"a": 1 ' + ' ' * 6 + '\n, ' + ' ' * 6 + '\n' + ' ' * 9 + ' "b": 2}'


def test_a_comma_after_the_last_member_or_element_becomes_a_space():
    assert standardize('{"a": [1, 2, ], "b": {"c": true,},}') == '{"a": [1, 2  ], "b": {"c": true } }'


def test_a_trailing_comma_may_stand_before_a_comment():
    assert standardize('[1, // end\n]') == '[1' + ' ' * 8 + '\n]'


def test_comment_markers_inside_strings_are_text():
    text = '{"url": "http://example.com/*x*/", "q": "a \\" // b", "c": ",]"}'
    assert standardize(text) == text


def test_plain_json_is_left_as_it_is():
    text = '{"migrations": {"command": "bin/rails db:migrate"}, "n": [1, 2.5, -3e2, null, false]}'
    assert standardize(text) == text


@pytest.mark.parametrize("text", ["[,]", "{,}", "[1,,]", '{"a": 1,,}'])
def test_a_comma_without_a_value_before_it_is_left_for_json_to_refuse(text):
    assert standardize(text) == text


@pytest.mark.parametrize("text", ['{"a": 1 /* open', '{"a": 1 /*/ }'])
def test_a_block_comment_that_never_ends_is_refused_as_hujson_refuses_it(text):
    with pytest.raises(ValueError, match=re.escape("the comment on line 1 never ends: it needs '*/' after it")):
        standardize(text)


def test_a_line_comment_may_end_the_file_as_dokku_appends_a_newline_to_its_copy():
    assert standardize('{"a": 1} // the end') == '{"a": 1}' + ' ' * 11


def test_a_commented_app_json_with_trailing_commas_names_its_command():
    detection = detect(DEFAULT, "/app", lambda paths: {path: COMMENTED if path == "/app/app.json" else None
                                                      for path in paths})
    assert (detection.command, detection.source) == ("npm run migrate", "/app/app.json $.migrations.command")


def test_an_app_json_in_another_directory_is_read_as_jsonc_too():
    assert load_json("/srv/deploy/app.json", b'{"migrations": {"command": "x",},}') == {"migrations": {"command": "x"}}


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n"])
def test_an_app_json_of_whitespace_only_is_an_empty_app_json(data):
    assert load_json("/app/app.json", data) == {}


def test_an_app_json_with_a_byte_order_mark_is_read_as_dokkus_copy_of_it_reads():
    document = load_json("/app/app.json", b'\xef\xbb\xbf{"migrations": {"command": "x"}}')
    assert document == {"migrations": {"command": "x"}}


def test_an_unterminated_block_comment_in_app_json_is_refused_naming_the_file_and_line():
    with pytest.raises(UserError, match=r"^/app/app\.json in the image is not valid JSON \(the comment on line 2 "):
        load_json("/app/app.json", b'{"migrations": {"command": "x"}}\n/* the last line')


def test_a_json_error_in_a_commented_app_json_points_at_the_line_as_written():
    with pytest.raises(UserError, match=r"line 3 column 7"):
        load_json("/app/app.json", b'{\n  // a comment\n  "a" 1\n}')


@pytest.mark.parametrize("path", ["/app/package.json", "/app/composer.json"])
def test_package_and_composer_json_stay_strict_json_as_npm_and_composer_read_them(path):
    with pytest.raises(UserError, match="is not valid JSON"):
        load_json(path, b'{"scripts": {"migrate": "x"}, // no\n}')


@pytest.mark.parametrize("word", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(word):
    with pytest.raises(UserError, match=f"{word} is not a JSON value"):
        load_json("/app/package.json", f'{{"scripts": {{"x": {word}}}}}'.encode())


def test_a_large_commented_app_json_reads_the_same_as_its_plain_twin():
    plain = {"env": {f"KEY_{i}": {"description": f"key {i} // not a comment", "value": "/* kept */"}
                     for i in range(500)}, "migrations": {"command": "true"}}
    commented = "// top\n" + json.dumps(plain, indent=2).replace('",\n', '", // note\n')
    assert load_json("/app/app.json", commented.encode()) == plain
