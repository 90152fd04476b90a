"""The command line's one vocabulary, walked over every parser of every command: the same idea has the
same flag everywhere, every option has help that shows its default, old spellings still parse but are
hidden, and a mistyped command gets one line naming the closest one."""

from __future__ import annotations

import argparse

import pytest

from minireason.cli.main import COMMANDS, add_command_arguments, main, unknown_command

# old spelling -> the flag that replaced it: a user's scripts may use the old one, so it still parses, unshown
HIDDEN_ALIASES = {"--quiet": "--no-progress", "--problems": "--limit", "--n": "--limit",
                  "--chat": "--prompt-format", "--pairs": "--data", "--write": "--out"}
# one spelling per idea: these say it another way
RETIRED_SPELLINGS = set(HIDDEN_ALIASES) | {"--progress", "--count", "--num", "--number", "--output",
                                           "--output-dir", "--out-file", "--out_dir"}


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """(name, parser) for every command and sub-command ("tasks export")."""
    found = []
    for name in COMMANDS:
        parser = argparse.ArgumentParser(prog=f"minireason {name}")
        add_command_arguments(name, parser)
        stack = [(name, parser)]
        while stack:
            label, current = stack.pop()
            found.append((label, current))
            for action in current._actions:
                if isinstance(action, argparse._SubParsersAction):
                    stack.extend((f"{label} {verb}", sub) for verb, sub in action.choices.items())
    return found


PARSERS = _parsers()


def _options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if action.option_strings and not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            yield action


def _shown(parser):
    return [action for action in _options(parser) if action.help != argparse.SUPPRESS]


@pytest.mark.parametrize("label,parser", PARSERS, ids=[label for label, _ in PARSERS])
def test_every_shown_option_has_help_that_shows_its_default(label, parser):
    for action in _shown(parser):
        assert action.help, f"{label} {action.option_strings[0]}: no help"
        text = action.help.lower()
        assert "default" in text or "required" in text, f"{label} {action.option_strings[0]}: {action.help!r}"
    rendered = parser.format_help()  # and the help renders (a stray % in a default would raise here)
    assert "--help" in rendered


@pytest.mark.parametrize("label,parser", PARSERS, ids=[label for label, _ in PARSERS])
def test_one_flag_per_idea(label, parser):
    shown = {flag for action in _shown(parser) for flag in action.option_strings}
    assert not shown & RETIRED_SPELLINGS, f"{label} shows {sorted(shown & RETIRED_SPELLINGS)}"
    for action in _shown(parser):
        flag = action.option_strings[0]
        words = (action.help or "").lower()
        if flag.startswith("--no-") and "progress" in words:
            assert flag == "--no-progress", f"{label}: the progress switch is {flag}"
        if action.dest in ("out", "out_dir", "write"):
            # a file is --out, a folder --out-dir
            assert flag == ("--out-dir" if action.dest == "out_dir" else "--out"), f"{label}: {flag}"
            is_folder = any(word in words for word in ("directory", "folder", "where "))
            assert is_folder == (flag == "--out-dir"), f"{label} {flag}: {action.help!r}"
    for action in _options(parser):
        if action.help == argparse.SUPPRESS:
            assert set(action.option_strings) <= set(HIDDEN_ALIASES), f"{label} hides {action.option_strings}"
            replacement = HIDDEN_ALIASES[action.option_strings[0]]
            assert replacement in shown, f"{label}: {action.option_strings[0]} without {replacement}"


def test_the_integer_flags_word_their_errors_one_way(capsys):
    for argv in (["grpo", "--steps", "x"], ["eval", "--model", "m", "--data", "d", "--out", "o", "--top-k", "x"],
                 ["tasks", "show", "--family", "addition", "--seed", "x"], ["smoke", "--batch-size", "x"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert "expected an integer, got 'x'" in capsys.readouterr().err
    for argv in (["grpo", "--steps", "0"], ["sft", "--steps", "0"], ["eval", "--model", "m", "--data", "d", "--out", "o",
                                                                       "--limit", "0"], ["demo", "--limit", "0"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "expected an integer >= 1, got '0'" in capsys.readouterr().err


@pytest.mark.parametrize("argv,flag,value", [
    (["scale", "--model", "m", "--data", "d", "--quiet"], "no_progress", True),
    (["demo", "--quiet"], "no_progress", True),
    (["demo", "--problems", "7"], "problems", 7),
    (["eval", "--model", "m", "--data", "d", "--out", "o", "--chat"], "prompt_format", "chat"),
    (["dpo", "--pairs", "p.jsonl"], "data", "p.jsonl"),
    (["tasks", "show", "--family", "addition", "--n", "2"], "limit", 2),
    (["grade", "r.jsonl", "--write", "w.jsonl"], "out", "w.jsonl"),
])
def test_old_spellings_still_parse(argv, flag, value, monkeypatch):
    seen = {}

    def capture(args):
        seen.update(vars(args))
        return 0

    module = __import__(COMMANDS[argv[0]][0], fromlist=["run"])
    monkeypatch.setattr(module, "run", capture)
    assert main(argv) == 0
    assert seen[flag] == value


def test_training_help_shows_the_configs_defaults(capsys):
    from minireason.posttrain.grpo import GRPOConfig

    with pytest.raises(SystemExit):
        main(["grpo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {GRPOConfig().group_size})" in text
    assert f"(default: {GRPOConfig().loss})" in text


@pytest.mark.parametrize("word,closest", [("genrate", "generate"), ("gpro", "grpo"), ("distil", "distill"),
                                          ("evl", "eval")])
def test_a_mistyped_command_suggests_the_closest(word, closest, capsys):
    assert main([word, "--model", "m"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"did you mean {closest}?" in err


def test_a_word_far_from_every_command_lists_them():
    message = unknown_command("xyzzy", COMMANDS)
    assert "did you mean" not in message and "generate" in message
    assert unknown_command("grpo", COMMANDS) is None and unknown_command("--debug", COMMANDS) is None
