"""`python -m app admin set-password` reads the password from stdin (or asks twice on a terminal), stores only its
scrypt hash, and the dashboard's login takes it."""

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.admin.helpers import login
from tests.fixtures.node import NodeFactory

ROOT = Path(__file__).resolve().parents[2]


def _set_password(database_url: str, data_dir: Path, password: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "app", "admin", "set-password"]
    return subprocess.run(command, input=password + "\n", env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_set_password_from_stdin_then_log_in(node_factory: NodeFactory, tmp_path: Path) -> None:
    node = node_factory()
    assert login(node, "anything at all").json()["error"]["code"] == "admin_not_configured"
    data_dir = tmp_path / "data"
    short = _set_password(node.settings.database_url, data_dir, "short")
    assert short.returncode == 1 and "at least 8" in short.stderr
    done = _set_password(node.settings.database_url, data_dir, "a fine long password")
    assert done.returncode == 0, done.stderr
    assert "a fine long password" not in done.stdout + done.stderr
    assert login(node, "a fine long password").status_code == 200
    assert login(node, "a fine long passwor").status_code == 401
    page = httpx.get(f"{node.root}/admin", timeout=10)
    assert page.status_code == 200 and 'id="password"' in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script runs
