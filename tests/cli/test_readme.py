"""The README shows what its examples print: its Python snippet and its ``console`` sessions are run
here and their output compared with the README's, line for line."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from paths import REPOSITORY

ROOT = REPOSITORY
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n(?:(.*?)\n)?", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    """(language, body) of every fenced block of the README, in order."""
    return [(match.group(1), match.group(2)) for match in FENCE.finditer(README)]


def _python_snippets() -> list[tuple[str, str]]:
    """(code, the output the README shows for it): a python block followed by a text block."""
    blocks = _blocks()
    return [(body, blocks[index + 1][1]) for index, (language, body) in enumerate(blocks[:-1])
            if language == "python" and blocks[index + 1][0] == "text"]


def _console_commands() -> list[tuple[str, str]]:
    """(command, the output the README shows) of every ``$ command`` line in a console block."""
    found = []
    for language, body in _blocks():
        if language != "console":
            continue
        for session in re.split(r"^(?=\$ )", body, flags=re.M):
            if session.strip():
                command, _, output = session.partition("\n")
                found.append((command.removeprefix("$ "), output))
    return found


def _environment() -> dict:
    """This checkout's package first on the path (not another installed copy), numpy backend."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MINIREASON_")}
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), environment.get("PYTHONPATH", "")])
    return environment


def test_the_readme_has_examples_to_check():
    assert len(_python_snippets()) >= 1 and len(_console_commands()) >= 2


@pytest.mark.parametrize("code,shown", _python_snippets(), ids=lambda value: "")
def test_python_snippet_prints_what_the_readme_shows(code, shown, tmp_path):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env=_environment(), timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown


@pytest.mark.parametrize("command,shown", _console_commands(), ids=lambda value: "")
def test_console_example_prints_what_the_readme_shows(command, shown, tmp_path):
    assert command.startswith("minireason ")
    # the same command through this checkout's interpreter; bash expands $'...' as a user's shell does
    command = f"{sys.executable} -m minireason.cli.main " + command.removeprefix("minireason ")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=tmp_path,
                            env=_environment(), timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown
