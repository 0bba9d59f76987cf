"""Option errors name the field; the CLI and the hook each word them their own way."""

from __future__ import annotations

import pytest

from moebius_video.errors import OptionError
from moebius_video.hook.runner import request_key
from moebius_video.options import InpaintOptions


@pytest.mark.parametrize(
    ("options", "field", "cli", "hook"),
    [
        ({"crf": 99}, "crf", "--crf: expected an integer 0..51, got 99", "crf: expected"),
        ({"window": 0}, "window", "--window: expected an integer >= 1", "options.window: exp"),
        ({"codec": ""}, "codec", "-c:v: the codec name is empty", "codec: the codec name"),
        ({"overwrite": "yes"}, "overwrite", "-y/--overwrite: expected true or false", "overwrite"),
        ({"keyframe_interval": 0}, "keyframe_interval", "--keyframe-interval: exp", "options."),
        ({"strict": "yes"}, "strict", "--strict: expected true or false", "options.strict: "),
        (
            {"save_debug": "d.mp4", "save_debug_scale": 0},
            "save_debug_scale",
            "--save-debug-scale: expected a scale from 0.1 to 2, got 0",
            "options.save_debug_scale: expected",
        ),
        (
            {"save_debug_scale": 0.5},
            "save_debug_scale",
            "--save-debug-scale: scales the --save-debug preview; give it",
            "options.save_debug_scale: scales",
        ),
        (
            {"save_debug": "d.mp4", "save_debug_scale": True},
            "save_debug_scale",
            "--save-debug-scale: expected a number",
            "options.save_debug_scale: expected a number",
        ),
    ],
)
def test_an_option_error_names_its_field(options, field, cli, hook):
    with pytest.raises(OptionError) as caught:
        InpaintOptions(**options)
    error = caught.value
    assert error.field == field
    assert str(error).startswith(cli), str(error)
    assert (request_key(error.field) + error.detail).startswith(hook)


def test_a_job_file_entry_prefixes_the_cli_wording():
    with pytest.raises(OptionError, match=r"^jobs.yaml: shots\[2\]: --crf: expected") as caught:
        InpaintOptions.from_mapping({"crf": "x1"}, where="jobs.yaml: shots[2]")
    assert caught.value.field == "crf"


def test_save_debug_scale_from_a_job_file_or_a_request_is_a_number():
    options = InpaintOptions.from_mapping({"save_debug": "d.mp4", "save_debug_scale": "0.5"})
    assert options.save_debug_scale == 0.5
    assert options.temporal_options().save_debug_scale == 0.5
    with pytest.raises(OptionError, match="--save-debug-scale: expected a number"):
        InpaintOptions.from_mapping({"save_debug": "d.mp4", "save_debug_scale": "half"})
