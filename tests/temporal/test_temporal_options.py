"""TemporalOptions: defaults that work, clear errors for values that cannot."""

from __future__ import annotations

import dataclasses

import pytest

from moebius_video.errors import EXIT_USAGE, UsageError
from moebius_video.temporal import TemporalOptions


def test_defaults_are_consistent():
    options = TemporalOptions()
    assert options.blend <= options.context and 2 * options.blend <= options.window
    assert options.flow_quality == "balanced"
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.window = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("window", 0, "window must be an integer >= 1, got 0"),
        ("window", 2.5, "window must be an integer >= 1, got 2.5"),
        ("keyframe_interval", -1, "keyframe_interval must be an integer >= 1"),
        ("context", -2, "context must be an integer >= 0, got -2"),
        ("margin", "32", "margin must be an integer >= 0, got '32'"),
        ("blend", 9, "blend (9) must not exceed context (8)"),
        ("flow_quality", "best", "flow_quality must be one of fast, balanced, high, got 'best'"),
    ],
)
def test_bad_values_name_the_option(field, value, message):
    with pytest.raises(UsageError) as error:
        TemporalOptions(**{field: value})
    assert message in str(error.value)
    assert error.value.exit_code == EXIT_USAGE


def test_blend_must_fit_in_the_window():
    with pytest.raises(UsageError, match="at most half the window"):
        TemporalOptions(window=6, context=8, blend=4)


def test_automatic_blend_fits_the_window_and_context():
    assert TemporalOptions().blend == 4
    assert TemporalOptions(context=2).blend == 2
    assert TemporalOptions(window=3, context=8).blend == 1
    assert TemporalOptions(context=0).blend == 0
