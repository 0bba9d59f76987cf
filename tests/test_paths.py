"""The one place that decides what an image-sequence pattern is: %04d, #### and @@@@."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from moebius_video.errors import UsageError
from moebius_video.options import parse_fps
from moebius_video.paths import frame_path, is_image_pattern, normalize_pattern, pattern_regex


@pytest.mark.parametrize(
    "pattern, normal",
    [
        ("shot.%04d.exr", "shot.%04d.exr"),
        ("shot.%d.exr", "shot.%d.exr"),
        ("shot.####.exr", "shot.%04d.exr"),
        ("shot_#.png", "shot_%01d.png"),
        ("shot.@@@@.exr", "shot.%04d.exr"),
        ("shot.@.exr", "shot.%d.exr"),
        ("shot_@@@.png", "shot_%03d.png"),
        ("@@@@.png", "%04d.png"),
    ],
)
def test_every_spelling_means_one_pattern(pattern, normal):
    assert is_image_pattern(pattern)
    assert normalize_pattern(pattern) == normal


@pytest.mark.parametrize("name", ["take@2x.mov", "clip@home.mov", "a@b.0001.png", "plate.mov"])
def test_an_at_sign_elsewhere_is_a_plain_name(name):
    assert not is_image_pattern(name)
    assert normalize_pattern(name) == name


@pytest.mark.parametrize(
    "pattern, number, name",
    [
        ("out/shot.@@@@.png", 1001, "out/shot.1001.png"),
        ("out/shot.####.png", 7, "out/shot.0007.png"),
        ("out/shot.@.png", 7, "out/shot.7.png"),
        ("out/shot.%04d.png", 12345, "out/shot.12345.png"),
    ],
)
def test_frame_path(pattern, number, name):
    assert frame_path(pattern, number) == Path(name)


def test_pattern_regex_reads_the_frame_number_back():
    regex = pattern_regex("shot.@@@@.png")
    assert int(regex.match("shot.1001.png").group(1)) == 1001
    assert regex.match("shot.101.png") is None  # four digits at least
    assert int(pattern_regex("shot.@.png").match("shot.7.png").group(1)) == 7
    with pytest.raises(UsageError, match="exactly one frame-number field"):
        pattern_regex("shot.%04d.%04d.png")


@pytest.mark.parametrize(
    "text, rate",
    [
        ("24", Fraction(24)),
        ("25.0", Fraction(25)),
        ("23.976", Fraction(24000, 1001)),
        ("29.97", Fraction(30000, 1001)),
        ("59.94", Fraction(60000, 1001)),
        ("24000/1001", Fraction(24000, 1001)),
        (30, Fraction(30)),
        ("12.5", Fraction(25, 2)),
    ],
)
def test_parse_fps(text, rate):
    assert parse_fps(text) == rate


@pytest.mark.parametrize("text", ["0", "-24", "abc", "1/0", "", "2000", True])
def test_parse_fps_refuses(text):
    with pytest.raises(UsageError, match="--fps"):
        parse_fps(text)


def test_job_files_and_hook_requests_take_the_sequence_options():
    from moebius_video.errors import OptionError
    from moebius_video.options import InpaintOptions

    options = InpaintOptions.from_mapping(
        {"fps": 23.976, "frame-numbers": "track", "frame_indices": "0-3"}
    )
    assert options.fps == Fraction(24000, 1001)
    assert (options.frame_numbers, options.frame_indices) == ("track", (0, 3))
    with pytest.raises(OptionError, match="shots\\[0\\]: --frame-numbers: expected file or track"):
        InpaintOptions.from_mapping({"frame_numbers": "files"}, where="jobs.yaml: shots[0]")
    with pytest.raises(OptionError, match="give frames or frame_indices, not both"):
        InpaintOptions(frames=(1001, 1002), frame_indices=(0, 1))
