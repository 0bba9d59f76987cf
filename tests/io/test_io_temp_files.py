"""Temporary outputs: dead runs' leftovers are cleared, live runs' kept, and a run that
finishes second does not replace an output it was not told to overwrite."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from moebius_video.errors import OutputExistsError
from moebius_video.io.temp_files import movie_temp, publish, remove_stale_temps


def _old(path):
    os.utime(path, (1e9, 1e9))  # made by a run before this one
    return path


def test_only_dead_runs_leftovers_are_removed(tmp_path):
    output = tmp_path / "clean.mp4"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".clean.tmp-{dead_pid}-0a0b0c0d.mp4"
    stale.write_bytes(b"half a movie")
    _old(stale)
    live = tmp_path / f".clean.tmp-{os.getppid()}-01020304.mp4"  # our parent: alive
    live.write_bytes(b"being written")
    _old(live)
    other = tmp_path / f".other.tmp-{dead_pid}-0a0b0c0d.mp4"  # another output's
    other.write_bytes(b"x")
    _old(other)
    assert remove_stale_temps(output, hidden=True) == 1
    assert not stale.exists() and live.exists() and other.exists()


def test_a_temporary_is_made_exclusively_and_named_for_its_process(tmp_path):
    output = tmp_path / "clean.mov"
    first, second = movie_temp(output), movie_temp(output)
    assert first != second and first.exists() and second.exists()
    assert first.name.startswith(f".clean.tmp-{os.getpid()}-") and first.suffix == ".mov"


def test_publishing_without_overwrite_never_replaces_an_output(tmp_path):
    output = tmp_path / "clean.mp4"
    temp = movie_temp(output)
    temp.write_bytes(b"ours")
    output.write_bytes(b"the other run's")  # it finished first
    with pytest.raises(OutputExistsError):
        publish(temp, output, overwrite=False)
    assert output.read_bytes() == b"the other run's" and not temp.exists()
    temp = movie_temp(output)
    temp.write_bytes(b"ours")
    publish(temp, output, overwrite=True)
    assert output.read_bytes() == b"ours" and not temp.exists()
