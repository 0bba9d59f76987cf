"""The farm integrations under plugins/ produce command lines our parser accepts.

OpenJD: the template is validated and expanded into tasks by the OpenJD model library
itself. Deadline: the plugin's argument builder runs against a small stand-in for the
two Deadline modules it imports (Deadline itself cannot run here).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from pathlib import Path

import yaml

from moebius_video.commands.analyse import build_parser as analyse_parser
from moebius_video.commands.run import build_parser, options_from_args

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


def _parse(args: list[str]):
    ns = build_parser().parse_args(args)
    return ns, options_from_args(ns)


def test_openjd_template_expands_into_contiguous_chunk_commands():
    from openjd.model import (
        StepParameterSpaceIterator,
        create_job,
        decode_job_template,
        preprocess_job_parameters,
    )

    path = PLUGINS / "openjd" / "moebius_video_job.yaml"
    template = decode_job_template(
        template=yaml.safe_load(path.read_text()), supported_extensions=["TASK_CHUNKING"]
    )
    values = {
        "Input": "/show/sh010/plate.mov",
        "MaskTrack": "/show/sh010/wires.json",
        "OutputDir": "/show/sh010/clean",
        "Frames": "1001-1100",
        "ChunkSize": "30",
        "Context": "6",
    }
    parameters = preprocess_job_parameters(
        job_template=template,
        job_parameter_values=values,
        job_template_dir=path.parent,
        current_working_dir=path.parent,
    )
    job = create_job(job_template=template, job_parameter_values=parameters)
    analyse, step = job.steps
    assert [d.dependsOn for d in step.dependencies] == [analyse.name]
    assert step.script.actions.onRun.command == "moebius-video"
    job_values = {name: str(value.value) for name, value in parameters.items()}
    symbols = {f"Param.{k}": v for k, v in job_values.items()}
    first = [_expand(arg, symbols) for arg in analyse.script.actions.onRun.args]
    assert first[0] == "analyse" and analyse.parameterSpace is None
    sidecar = analyse_parser().parse_args(first[1:]).output
    assert sidecar == "/show/sh010/clean/shot.analysis.npz"

    covered = []
    for task in StepParameterSpaceIterator(space=step.parameterSpace):
        symbols = {f"Param.{k}": v for k, v in job_values.items()}
        symbols["Task.Param.Frame"] = task["Frame"].value
        args = [_expand(arg, symbols) for arg in step.script.actions.onRun.args]
        ns, options = _parse(args)
        assert ns.skip_existing and ns.progress == "openjd", args
        assert ns.output == "/show/sh010/clean/clean.%04d.png"
        assert options.context == 6 and options.analysis == sidecar
        covered += list(range(options.frames[0], options.frames[1] + 1))
    assert covered == list(range(1001, 1101)), f"chunks cover {covered[:3]}..{covered[-3:]}"


def _expand(text: str, symbols: dict[str, str]) -> str:
    """Resolve OpenJD's {{Param.X}} references, as the worker agent does."""
    return re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda m: symbols[m.group(1)], text)


def _load_deadline_plugin():
    """Import MoebiusVideo.py with stand-ins for Deadline.Plugins and Deadline.Scripting."""
    deadline = types.ModuleType("Deadline")
    plugins = types.ModuleType("Deadline.Plugins")
    plugins.DeadlinePlugin = type("DeadlinePlugin", (), {})
    plugins.PluginType = types.SimpleNamespace(Simple=0, Advanced=1)
    scripting = types.ModuleType("Deadline.Scripting")
    scripting.RepositoryUtils = types.SimpleNamespace(CheckPathMapping=lambda path: path)
    saved = {name: sys.modules.get(name) for name in ("Deadline", "Deadline.Plugins")}
    sys.modules.update(
        {"Deadline": deadline, "Deadline.Plugins": plugins, "Deadline.Scripting": scripting}
    )
    try:
        spec = importlib.util.spec_from_file_location(
            "deadline_moebius_video", PLUGINS / "deadline" / "MoebiusVideo" / "MoebiusVideo.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        for name in ("Deadline", "Deadline.Plugins", "Deadline.Scripting"):
            if saved.get(name) is None:
                sys.modules.pop(name, None)


def _job_file(name: str) -> dict[str, str]:
    text = (PLUGINS / "deadline" / name).read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_deadline_plugin_builds_a_resumable_chunk_command_and_its_analysis():
    plugin = _load_deadline_plugin()
    info = _job_file("plugin_info.job")
    mapped = lambda path: path.replace("/show/", "/mnt/show/")  # noqa: E731 (path mapping)
    args = plugin.build_arguments(info, 1026, 1050, mapped)
    ns, options = _parse(args)
    assert ns.input == "/mnt/show/sh010/plate/sh010_plate.mov"
    assert ns.output == "/mnt/show/sh010/clean/sh010_clean.%04d.png"
    assert options.frames == (1026, 1050) and options.context == 8
    assert options.device == "cuda" and ns.skip_existing and ns.progress == "plain"
    assert options.analysis == "/mnt/show/sh010/clean/sh010.analysis.npz"
    job_info = _job_file("job_info.job")
    assert job_info["Plugin"] == "MoebiusVideo" and "ChunkSize" in job_info

    # The analyse job: one task, the same plate, track and sidecar, the analysis options
    # of ExtraArgs and nothing else of them.
    first = _job_file("analyse_plugin_info.job")
    assert {k: first[k] for k in ("Input", "MaskTrack", "Analysis")} == {
        k: info[k] for k in ("Input", "MaskTrack", "Analysis")
    }
    first["ExtraArgs"] = "--device cuda --shot-cuts 1040 --allow-damaged --frame-numbers=track"
    args = plugin.build_arguments(first, 0, 0, mapped)
    assert args[0] == "analyse"
    ns = analyse_parser().parse_args(args[1:])
    assert ns.input == "/mnt/show/sh010/plate/sh010_plate.mov"
    assert ns.output == options.analysis and ns.overwrite
    assert (ns.shot_cuts, ns.allow_damaged, ns.frame_numbers) == ("1040", True, "track")
    assert _job_file("analyse_job_info.job")["Plugin"] == "MoebiusVideo"


def test_openjd_runtime_runs_the_template_on_a_clip(shot, tmp_path):
    """The real OpenJD runtime (`openjd run`) runs the template: the Analyse step, then
    two chunk tasks that read its sidecar and share the windows they fill."""
    import json
    import os
    import shutil
    import subprocess

    from distributed_media import FRAME_BASE, FRAMES

    from moebius_video.api import render_chunk
    from moebius_video.options import InpaintOptions
    from moebius_video.paths import frame_path

    openjd = shutil.which("openjd")
    assert openjd is not None, "the OpenJD CLI (pip install openjd-cli) is needed"
    # `moebius-video` as the template calls it, for this checkout without installing it.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "moebius-video"
    shim.write_text(
        f"#!/bin/sh\nexec {sys.executable} -c "
        "'import sys; from moebius_video.cli import main; sys.exit(main(sys.argv[1:]))' \"$@\"\n"
    )
    shim.chmod(0o755)
    repo = PLUGINS.parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])),
    }
    last = FRAME_BASE + FRAMES - 1
    params = {
        "Input": str(shot["clip"]),
        "MaskTrack": str(shot["track"]),
        "OutputDir": str(tmp_path / "clean"),
        "Frames": f"{FRAME_BASE}-{last}",
        "ChunkSize": str(FRAMES // 2),
        "Context": "2",
    }
    command = [openjd, "run", str(PLUGINS / "openjd" / "moebius_video_job.yaml")]
    command += ["--step", "Inpaint", "--run-dependencies", "--output", "json"]
    for key, value in params.items():
        command += ["-p", f"{key}={value}"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"openjd run failed:\n{done.stdout[-3000:]}\n{done.stderr}"
    messages = [entry.get("message", "") for entry in json.loads(done.stdout)["logs"]]
    assert sum(m == "openjd_progress: 100" for m in messages) == 3, messages  # analyse + 2
    assert any("the shot analysis of" in m for m in messages), messages
    windows = sorted((tmp_path / "clean" / "shot.analysis.windows").iterdir())
    assert windows, "the chunks shared no windows"

    reference = tmp_path / "reference" / "clean.%04d.png"
    render_chunk(shot["clip"], shot["track"], reference, InpaintOptions(context=2))
    numbers = range(FRAME_BASE, last + 1)
    got = [frame_path(tmp_path / "clean" / "clean.%04d.png", n).read_bytes() for n in numbers]
    expected = [frame_path(reference, n).read_bytes() for n in numbers]
    assert got == expected, "OpenJD chunks differ from the one-process render"
