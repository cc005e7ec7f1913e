"""Dokku-style output: the 7-space indent applied to a stream of arbitrary chunks, and the raw log."""

import io

from dokku_migrations.common.output import IndentedStream, indent_chunk, info1, info2, verbose, warn

INDENT = b"       "


def stream_through(chunks, log=True):
    terminal = io.BytesIO()
    logfile = io.BytesIO() if log else None
    stream = IndentedStream(terminal, logfile)
    for chunk in chunks:
        stream.write(chunk)
    stream.finish()
    return terminal.getvalue(), (logfile.getvalue() if log else None)


def is_utf8(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- indent_chunk -----------------------------------------------------------------------------

def test_a_line_at_the_start_of_a_line_is_indented():
    assert indent_chunk(b"Migrating\n", True) == INDENT + b"Migrating\n"


def test_a_chunk_continuing_a_line_is_not_indented_again():
    assert indent_chunk(b"rating\n", False) == b"rating\n"


def test_every_line_inside_a_chunk_is_indented():
    assert indent_chunk(b"one\ntwo\nthree", True) == INDENT + b"one\n" + INDENT + b"two\n" + INDENT + b"three"


def test_a_chunk_ending_in_a_newline_does_not_indent_the_line_that_has_not_started():
    assert not indent_chunk(b"one\n", True).endswith(INDENT)


def test_an_empty_chunk_stays_empty():
    assert indent_chunk(b"", True) == b""


def test_an_empty_line_is_indented_like_any_other():
    assert indent_chunk(b"a\n\nb\n", True) == INDENT + b"a\n" + INDENT + b"\n" + INDENT + b"b\n"


# --- IndentedStream ---------------------------------------------------------------------------

def test_a_line_split_over_two_chunks_gets_one_indent():
    terminal, _ = stream_through([b"Migrat", b"ing users\n"])
    assert terminal == INDENT + b"Migrating users\n"


def test_a_newline_at_the_end_of_one_chunk_indents_the_start_of_the_next():
    terminal, _ = stream_through([b"one\n", b"two\n"])
    assert terminal == INDENT + b"one\n" + INDENT + b"two\n"


def test_a_newline_arriving_alone_ends_the_line_and_the_next_chunk_is_indented():
    terminal, _ = stream_through([b"one", b"\n", b"two\n"])
    assert terminal == INDENT + b"one\n" + INDENT + b"two\n"


def test_an_empty_chunk_does_not_disturb_the_line_state():
    terminal, _ = stream_through([b"one", b"", b"two\n"])
    assert terminal == INDENT + b"onetwo\n"


def test_the_log_gets_the_output_byte_for_byte_without_indent():
    chunks = [b"Batch 1 run: ", b"2 migrations\n", b"\x1b[32mdone\x1b[0m\n", b"no newline at end"]
    _, log = stream_through(chunks)
    assert log == b"".join(chunks)


def test_a_multibyte_character_split_across_chunks_stays_byte_identical_in_the_log():
    text = "Migración ✓ 完了\n".encode()
    split_inside_characters = [text[:8], text[8:14], text[14:17], text[17:]]
    assert all(not is_utf8(chunk) for chunk in split_inside_characters[:3])
    _, log = stream_through(split_inside_characters)
    assert log == text


def test_a_multibyte_character_split_across_chunks_stays_intact_on_the_terminal():
    text = "Migración ✓ 完了\nzweite Zeile ü\n".encode()
    terminal, _ = stream_through([text[i:i + 1] for i in range(len(text))])
    assert terminal.decode("utf-8") == "       Migración ✓ 完了\n       zweite Zeile ü\n"


def test_finish_ends_a_last_line_that_had_no_newline():
    terminal, log = stream_through([b"done"])
    assert terminal == INDENT + b"done\n"
    assert log == b"done"


def test_finish_adds_nothing_after_a_complete_last_line():
    terminal, _ = stream_through([b"done\n"])
    assert terminal == INDENT + b"done\n"


def test_finish_adds_nothing_when_there_was_no_output():
    terminal, _ = stream_through([])
    assert terminal == b""


def test_a_stream_without_a_log_still_writes_the_terminal():
    terminal, _ = stream_through([b"a\nb\n"], log=False)
    assert terminal == INDENT + b"a\n" + INDENT + b"b\n"


def test_the_stream_has_no_encoding_so_sh_hands_it_raw_bytes():
    assert not hasattr(IndentedStream(io.BytesIO()), "encoding")


# --- Dokku's message styles -------------------------------------------------------------------

def test_info1_is_an_arrow_line_on_stdout(capsys):
    info1("Running migrations for web")
    assert capsys.readouterr().out == "-----> Running migrations for web\n"


def test_info2_is_a_double_arrow_line_on_stdout(capsys):
    info2("web migrations information")
    assert capsys.readouterr().out == "=====> web migrations information\n"


def test_verbose_indents_every_line_of_a_message(capsys):
    verbose("one\ntwo")
    assert capsys.readouterr().out == "       one\n       two\n"


def test_verbose_of_an_empty_message_prints_one_indented_line(capsys):
    verbose("")
    assert capsys.readouterr().out == "       \n"


def test_warn_goes_to_stderr_with_dokkus_failure_mark(capsys):
    warn("Migrations failed")
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", " !     Migrations failed\n")


def test_each_chunk_reaches_a_piped_terminal_at_once():
    """A pipe (Dokku's build capture, ssh) is block-buffered: without a flush the person at `git push`
    would read the migration's output, and the line saying it is quiet, only at its end."""
    import os
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    with open(write_end, "wb") as terminal:
        stream = IndentedStream(terminal)
        stream.write(b"Building index\n")
        assert os.read(read_end, 100) == INDENT + b"Building index\n"
    os.close(read_end)


# --- control characters: shown, never obeyed --------------------------------------------------

def test_an_escape_sequence_in_the_output_is_shown_not_sent(capsys):
    terminal, log = stream_through([b"ok\x1b[8m hidden\n"])
    assert terminal == INDENT + b"ok\\x1b[8m hidden\n"
    assert log == b"ok\x1b[8m hidden\n"


def test_a_carriage_return_starts_the_line_again_with_its_indent():
    terminal, _ = stream_through([b"50%\r100%\r\n-----> forged\n"])
    assert terminal == INDENT + b"50%\r" + INDENT + b"100%\r" + INDENT + b"\n" + INDENT + b"-----> forged\n"


def test_a_carriage_return_ending_a_chunk_indents_what_follows():
    terminal, _ = stream_through([b"working\r", b"-----> forged\n"])
    assert terminal == INDENT + b"working\r" + INDENT + b"-----> forged\n"


def test_backspaces_cannot_reach_back_over_the_indent():
    terminal, _ = stream_through([b"\x08\x08-----> forged\n"])
    assert terminal == INDENT + b"\\x08\\x08-----> forged\n"


def test_a_c1_control_is_shown_even_split_across_chunks():
    terminal, log = stream_through([b"a\xc2", b"\x9b31mb\n"])
    assert terminal == INDENT + b"a\\x9b31mb\n"
    assert log == b"a\xc2\x9b31mb\n"


def test_text_around_a_c1_lead_byte_is_left_alone():
    terminal, _ = stream_through([b"\xc2", b"\xa9 caf\xc3\xa9\n"])
    assert terminal == INDENT + "© café\n".encode()


def test_a_held_byte_at_the_end_of_the_stream_is_written_before_the_last_newline():
    terminal, _ = stream_through([b"x\xc2"])
    assert terminal == INDENT + b"x\xc2\n"


def test_a_line_after_a_carriage_return_is_still_ended_by_finish():
    terminal, _ = stream_through([b"100%\r"])
    assert terminal == INDENT + b"100%\r\n"


def test_a_note_amid_the_output_is_on_a_line_of_its_own_in_the_log_too():
    terminal, log = io.BytesIO(), io.BytesIO()
    stream = IndentedStream(terminal, log)
    stream.write(b"partial")
    stream.note("(the output stream dropped)")
    stream.finish()
    assert log.getvalue() == b"partial\n(the output stream dropped)\n"
    assert terminal.getvalue() == INDENT + b"partial\n" + INDENT + b"(the output stream dropped)\n"


def test_a_message_quoting_an_image_shows_its_controls_and_indents_its_extra_lines(capsys):
    warn("Bad command 'a\x1b]0;x\x07\r\n-----> ok' in app.json")
    assert capsys.readouterr().err == " !     Bad command 'a\\x1b]0;x\\x07\\x0d\n       -----> ok' in app.json\n"


def test_a_plain_message_is_printed_as_it_is(capsys):
    info1("Migrations for web succeeded in 1.2s ✓")
    assert capsys.readouterr().out == "-----> Migrations for web succeeded in 1.2s ✓\n"
