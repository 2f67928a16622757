"""Starting and stopping JupyterLab / Voila and Chromium for the browser tests.

Everything listens on 127.0.0.1 with a random token, works on a temporary copy of the notebooks, and is
stopped by the fixture that started it (process group killed), so no server or browser outlives a test run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str | None, port: int, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    """Wait until the server answers ``url`` with 200, or (``url=None``) until its port accepts connections.
    Voila is probed by port only: each GET of its page starts a kernel and runs the whole notebook."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if url is None:
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    return
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"server did not answer {url} within {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@contextmanager
def jupyter_server(kind: str, workdir: Path, extra: list[str] | None = None):
    """Run ``jupyter lab`` (kind="lab") or ``voila`` (kind="voila") on 127.0.0.1; yield (base_url, token)."""
    port, token = free_port(), secrets.token_hex(16)
    home = workdir / ".jupyter-home"
    for sub in ("config", "data", "runtime", "settings", "workspaces"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    # No "subscribe to Jupyter news?" toast over the screenshots.
    notif = home / "settings" / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True, exist_ok=True)
    (notif / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    bindir = Path(sys.executable).parent
    if kind == "lab":
        cmd = [str(bindir / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={workdir}", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        probe = f"http://127.0.0.1:{port}/api/status?token={token}"
    elif kind == "voila":
        cmd = [str(bindir / "voila"), "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}",
               f"--ServerApp.root_dir={workdir}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}"]
        probe = None
    else:
        raise ValueError(kind)
    if os.geteuid() == 0 and kind == "lab":
        cmd.append("--allow-root")
    cmd += extra or []
    log = home / f"{kind}-server.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait_http(probe, port, proc, log)
        yield f"http://127.0.0.1:{port}", token
    finally:
        _stop(proc)


def copy_notebooks(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for nb in sorted(src.glob("*.ipynb")):
        shutil.copy2(nb, dst / nb.name)
    return dst
