"""YTF splits and MegaFace devkit lists: small files written by the tests, plus the real YTF splits.txt."""

from __future__ import annotations

import json

import pytest

from labkit.data.lfw import ProtocolFormatError
from labkit.data.megaface import distractor_list_path, read_distractor_list, read_probe_list
from labkit.data.ytf import read_ytf_splits, scan_videos, video_frames


def test_ytf_small_file_and_errors(tmp_path):
    f = tmp_path / "splits.txt"
    f.write_text("split number, pair number in split, first name, second name, is same:\n"
                 "1, 1, A_B/1, A_B/3, 1\r\n1, 2, A_B/2, C_D/1, 0\n")
    pairs = read_ytf_splits(f, check_structure=False)
    assert [(p.fold, p.number, p.name1, p.video1, p.name2, p.video2, p.same) for p in pairs] == [
        (0, 1, "A_B", 1, "A_B", 3, True), (0, 2, "A_B", 2, "C_D", 1, False)]
    assert pairs[1].videos == ("A_B/2", "C_D/1")
    with pytest.raises(ProtocolFormatError, match="expected 5,000 pairs"):
        read_ytf_splits(f)
    f.write_text("1, 1, A_B/1, A_B, 1\n")
    with pytest.raises(ProtocolFormatError, match=r"splits.txt:1: expected a video as 'Person_Name/<number>'"):
        read_ytf_splits(f, check_structure=False)
    f.write_text("1, 1, A_B/1, A_B/2, yes\n")
    with pytest.raises(ProtocolFormatError, match="is_same must be 0 or 1"):
        read_ytf_splits(f, check_structure=False)


def test_ytf_frames_in_frame_order(tmp_path):
    v = tmp_path / "frame_images_DB" / "A_B" / "3"
    v.mkdir(parents=True)
    for n in (10, 2, 1):
        (v / f"3.{n}.jpg").write_bytes(b"")
    assert [p.name for p in video_frames(tmp_path / "frame_images_DB", "A_B", 3)] == ["3.1.jpg", "3.2.jpg", "3.10.jpg"]
    assert scan_videos(tmp_path / "frame_images_DB") == {"A_B": [3]}
    with pytest.raises(FileNotFoundError, match="A_B/4"):
        video_frames(tmp_path / "frame_images_DB", "A_B", 4)


@pytest.mark.data
def test_real_ytf_splits(data_dir):
    pairs = read_ytf_splits(data_dir("ytf_protocol") / "splits.txt")  # structure checked inside
    assert len(pairs) == 5000 and sum(p.same for p in pairs) == 2500
    assert {p.fold for p in pairs} == set(range(10))
    assert len({v for p in pairs for v in p.videos}) == 3226
    assert all(p.name1 == p.name2 for p in pairs if p.same)
    assert all(p.name1 != p.name2 for p in pairs if not p.same)


def test_megaface_lists_and_explicit_noise(tmp_path):
    tl = tmp_path / "templatelists"
    tl.mkdir()
    (tl / "facescrub_features_list.json").write_text(json.dumps(
        {"path": ["Ann/Ann_1.png", "Ann/Ann_2.png", "Bob/Bob_7.png"], "id": ["Ann", "Ann", "Bob"]}))
    distractors = distractor_list_path(tl, 10)
    distractors.write_text(json.dumps({"path": [f"{k:03d}/{k}.jpg" for k in range(10)]}))
    (tmp_path / "facescrub_noises.txt").write_text("# noisy probes\nAnn_2.png\n")
    (tmp_path / "megaface_noises.txt").write_text("003/3.jpg\n007/7.jpg\n")

    probes = read_probe_list(tl / "facescrub_features_list.json")
    assert len(probes) == 3 and probes.identities() == {"Ann": 2, "Bob": 1}
    assert "no noise list applied" in probes.describe()
    clean = read_probe_list(tl / "facescrub_features_list.json", noise=tmp_path / "facescrub_noises.txt")
    assert clean.paths == ["Ann/Ann_1.png", "Bob/Bob_7.png"] and clean.ids == ["Ann", "Bob"]
    assert "facescrub_noises.txt applied (1 removed)" in clean.describe()
    d = read_distractor_list(distractors, noise=tmp_path / "megaface_noises.txt")
    assert len(d) == 8 and "003/3.jpg" not in d.paths and d.noise_removed == ("megaface_noises.txt", 2)


def test_megaface_malformed_lists(tmp_path):
    bad = tmp_path / "facescrub_features_list.json"
    bad.write_text('{"path": ["a.png"], "id": []}')
    with pytest.raises(ProtocolFormatError, match="'id' list as long as 'path'"):
        read_probe_list(bad)
    bad.write_text('{"path": ["a.png",}')
    with pytest.raises(ProtocolFormatError, match=r"facescrub_features_list.json:1: not valid JSON"):
        read_probe_list(bad)
    bad.write_text('["a.png"]')
    with pytest.raises(ProtocolFormatError, match="'path' list"):
        read_distractor_list(bad)
