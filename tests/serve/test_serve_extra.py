"""Without the extra 'serve': one line naming it, from the library and from the command."""

import sys

import pytest

from minireason.cli.main import main
from minireason.errors import ConfigError
from minireason.serve.app import server_packages


@pytest.mark.parametrize("missing", ["fastapi", "uvicorn"])
def test_a_missing_server_package_names_the_extra(monkeypatch, capsys, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'minireason\[serve\]'"):
        server_packages()
    assert main(["serve", "--model", "builtin:base"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and missing in error and "minireason[serve]" in error
