"""``wamc api-key``: the key generated once and kept private; an unreadable key file is a clear
one-line error (an operator who is not the service's user), never a traceback."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from click.testing import CliRunner

from wamc.cli import main


def env(home: Path) -> dict[str, str | None]:
    return {"WAMC_HOME": str(home), "WAMC_API_KEY": None}


def test_api_key_is_generated_once_and_private(tmp_path: Path) -> None:
    first = CliRunner().invoke(main, ["api-key"], env=env(tmp_path))
    assert first.exit_code == 0, first.output
    key = first.output.strip()
    assert len(key) >= 32
    path = tmp_path / "sessions" / ".wamc" / "api_key"
    assert path.read_text().strip() == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = CliRunner().invoke(main, ["api-key"], env=env(tmp_path))
    assert again.output.strip() == key


def test_an_unreadable_key_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "sessions" / ".wamc" / "api_key").mkdir(parents=True)  # reading it fails
    out = CliRunner().invoke(main, ["api-key"], env=env(tmp_path))
    assert out.exit_code == 1
    assert out.output.startswith("Error: cannot read the API key (")
    assert "set WAMC_API_KEY or run as the service's user" in out.output
    assert out.exception is None or isinstance(out.exception, SystemExit)
