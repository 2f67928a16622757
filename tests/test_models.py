"""The SphereFace-style networks match the published layer recipe: shapes, parameter counts and MACs."""

from __future__ import annotations

import pytest
import torch

from labkit import models

STAGE_WIDTHS = (64, 128, 256, 512)


def recipe_params(units: tuple[int, ...], widths=STAGE_WIDTHS, embed: int = 512, h: int = 112, w: int = 96) -> int:
    """Parameters computed by hand from the layer recipe (conv weight + bias, one PReLU slope per channel)."""
    total, c_in = 0, 3
    for n, c in zip(units, widths):
        total += 9 * c_in * c + c + c  # stride-2 conv (weight, bias) + PReLU
        total += n * 2 * (9 * c * c + c + c)  # n units of two convs + PReLUs
        c_in, h, w = c, (h + 1) // 2, (w + 1) // 2
    return total + c_in * h * w * embed + embed  # FC from the last map


def recipe_macs(units: tuple[int, ...], widths=STAGE_WIDTHS, embed: int = 512, h: int = 112, w: int = 96) -> int:
    total, c_in = 0, 3
    for n, c in zip(units, widths):
        h, w = (h + 1) // 2, (w + 1) // 2
        total += h * w * c * 9 * c_in + n * 2 * h * w * c * 9 * c
        c_in = c
    return total + c_in * h * w * embed


def test_sphere20_parameter_count_matches_recipe_and_known_magnitude():
    net = models.sphere20()
    n = sum(p.numel() for p in net.parameters())
    assert n == recipe_params((1, 2, 4, 1)) == 22_670_656
    # The often-quoted "~28M" for sphere20 includes the 10,572-way classifier of CASIA-WebFace (512 x 10,572).
    assert n + 512 * 10_572 == pytest.approx(28.1e6, rel=0.01)
    # The FC layer from 512x7x6 to 512 dominates: about half the network.
    assert net.fc.weight.shape == (512, 512 * 7 * 6)


@pytest.mark.parametrize("arch,units", [("sphere36", (2, 4, 8, 2)), ("sphere64", (3, 8, 16, 3))])
def test_deeper_nets_match_recipe(arch, units):
    net = models.make_model(arch)
    assert sum(p.numel() for p in net.parameters()) == recipe_params(units)
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in net.modules())
    assert convs == int(arch.removeprefix("sphere"))  # "N layers" counts the convolutions


def test_describe_counts_macs_with_hooks(capsys):
    info = models.describe(models.sphere20(), name="sphere20")
    assert info["macs"] == recipe_macs((1, 2, 4, 1))
    assert 1.7e9 < info["macs"] < 1.8e9
    out = capsys.readouterr().out
    assert "22,670,656" in out and "GMACs" in out


def test_forward_shapes_and_lab_cnn_is_small():
    x = torch.randn(2, 3, 112, 96)
    net = models.lab_cnn()
    assert net(x).shape == (2, 128)
    assert net.feature_map == (128, 7, 6)
    assert sum(p.numel() for p in net.parameters()) == recipe_params((1, 1, 1, 1), (16, 32, 64, 128), 128)
    assert models.count_macs(net) < models.count_macs(models.sphere20()) / 20


def test_unknown_arch_is_a_clear_error():
    with pytest.raises(ValueError, match="sphere20"):
        models.make_model("resnet9000")
