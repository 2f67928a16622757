from __future__ import annotations

import pytest
import torch

from labkit import config


def test_resolve_checks_mode_and_seeds():
    cfg = config.resolve("fast", "cpu", 3)
    a = torch.rand(3)
    config.resolve("fast", "cpu", 3)
    assert torch.equal(a, torch.rand(3))
    assert cfg.fast and cfg.device == "cpu"
    with pytest.raises(ValueError, match="MODE must be one of"):
        config.resolve("quick")


def test_data_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    assert config.data_root() == tmp_path.resolve()
    monkeypatch.delenv("LABKIT_DATA")
    assert config.data_root() == config.REPO_ROOT / "data"


def test_require_data_flag(monkeypatch):
    monkeypatch.setenv("LABKIT_REQUIRE_DATA", "1")
    assert config.require_data()
    monkeypatch.setenv("LABKIT_REQUIRE_DATA", "0")
    assert not config.require_data()


def test_cuda_request_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU, so the error cannot happen here")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        config.pick_device("cuda")
