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
