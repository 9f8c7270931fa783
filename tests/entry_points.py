"""Runs SessionHub's entry points (`python app.py`, the `flask` command) as a user would.

Each run starts from a directory the test chooses (so a `.env` there is the only one found) and
from the test runner's environment less every SessionHub setting: only what the test passes
counts, whatever the developer's shell exports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLASK = [str(Path(sys.executable).with_name("flask")), "--app", "backend:create_app"]
PYTHON_APP = [sys.executable, str(ROOT / "app.py")]
RUN_TIMEOUT = 120


def settings_names() -> set[str]:
    """Every variable SessionHub reads: `.env.example` lists them all."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def clean_environment(**env: str) -> dict[str, str]:
    dropped = settings_names() | {"FLASK_APP", "FLASK_SKIP_DOTENV", "PYTHON_DOTENV_DISABLED"}
    base = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith("PYTEST")
    }
    # From a directory outside the repository, `backend` and `config` must still import.
    base["PYTHONPATH"] = str(ROOT)
    return {**base, **env}


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        env=clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
