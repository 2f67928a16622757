"""The test run is hermetic: caches live where LABKIT_CACHE says, and the HOME check of tests/conftest.py really
fails a session that writes under HOME (run here as a small pytest session in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from labkit import config

REPO = Path(__file__).resolve().parent.parent


def test_cache_dir_follows_labkit_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "c"))
    assert config.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()


def test_a_write_under_home_fails_the_session(tmp_path):
    # conftest.py is picked up from tests/ because the probe test is collected with tests/ as its root
    probe_dir = REPO / "tests" / f"_probe_{os.getpid()}"
    probe_dir.mkdir()
    try:
        (probe_dir / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
        home = tmp_path / "home"
        home.mkdir()
        (probe_dir / "test_probe.py").write_text(
            "import os\nfrom pathlib import Path\n\n"
            "def test_writes_home():\n    (Path(os.environ['HOME']) / '.cache').mkdir()\n\n"
        )
        env = dict(os.environ, HOME=str(home), LABKIT_HOME_MUST_STAY_EMPTY="1")
        bad = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe_dir)],
                             env=env, capture_output=True, text=True, cwd=probe_dir, timeout=120)
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert "HERMETIC CHECK FAILED" in bad.stdout and ".cache" in bad.stdout
        (home / ".cache").rmdir()
        (probe_dir / "test_probe.py").write_text("def test_clean():\n    assert True\n")
        good = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe_dir)],
                              env=env, capture_output=True, text=True, cwd=probe_dir, timeout=120)
        assert good.returncode == 0, good.stdout + good.stderr
    finally:
        for p in sorted(probe_dir.rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        probe_dir.rmdir()
