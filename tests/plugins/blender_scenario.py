"""Runs inside Blender: `blender -b --factory-startup --python blender_scenario.py -- CONFIG.json`
(or `python blender_scenario.py -- CONFIG.json` with the `bpy` module).

Installs the add-on zip that plugins/blender/build_addon.py built, as a user does
(`bpy.ops.preferences.addon_install`, into $BLENDER_USER_SCRIPTS, which the test points at a
temporary folder), enables it, builds a sequencer with a trimmed movie strip, runs
the add-on four ways and writes what it finds to config["report"] for test_blender_addon.py:

1. the operator with a mask-track file (the path scripts and `blender -b` take: synchronous);
2. a matte strip, stepped like the modal operator's timer does (CleanRun.step);
3. a run cancelled right after it started;
4. the operator with nothing selected (must fail with a clear message).
"""

import importlib
import json
import os
import sys
import time

import bpy

# After bpy: with the bpy module, Blender's own modules (addon_utils) come with it.
addon_utils = importlib.import_module("addon_utils")

config = json.load(open(sys.argv[sys.argv.index("--") + 1]))

ADDON = "moebius_video_vse"
installed = bpy.ops.preferences.addon_install(filepath=config["addon_zip"], overwrite=True)
assert installed == {"FINISHED"}, f"installing {config['addon_zip']}: {installed}"
addon_utils.enable(ADDON, default_set=True)
addon_entry = bpy.context.preferences.addons.get(ADDON)
assert addon_entry is not None, f"add-on {ADDON} did not enable"
addon_entry.preferences.tool = config["tool"]
addon_entry.preferences.codec = "libx264"
addon_entry.preferences.model = "opencv"  # the add-on is under test, not the fill

import moebius_video_vse as addon  # noqa: E402  (installed only now)
from moebius_video_vse import moebius_hook_client as hook  # noqa: E402


def describe(strip):
    return {
        "name": strip.name,
        "type": strip.type,
        "channel": strip.channel,
        "filepath": bpy.path.abspath(strip.filepath) if hasattr(strip, "filepath") else None,
        "frame_start": strip.frame_start,
        "frame_final_start": strip.frame_final_start,
        "frame_final_end": strip.frame_final_end,
        "frame_final_duration": strip.frame_final_duration,
    }


def select_only(editor, *strips):
    for strip in addon.top_level_strips(editor):
        strip.select = False
    for strip in strips:
        strip.select = True
    editor.active_strip = strips[0] if strips else None


def new_strips(editor, before):
    return [describe(s) for s in addon.top_level_strips(editor) if s.name not in before]


scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = config["fps"], config["fps_base"]
editor = scene.sequence_editor_create()
strips = addon.top_level_strips(editor)
report = {
    "blender": list(bpy.app.version),
    "api": "strips" if hasattr(editor, "strips") else "sequences",
    "addon_file": addon.__file__,
    "hook_client_file": hook.__file__,
}

start, first, count = config["frame_start"], config["first_index"], config["count"]
source = strips.new_movie(name="plate", filepath=config["clip"], channel=2, frame_start=start)
source.frame_final_start = start + first
source.frame_final_end = start + first + count
report["source"] = describe(source)

# 1. Operator, mask-track file, synchronous.
before = {s.name for s in strips}
select_only(editor, source)
result = bpy.ops.sequencer.moebius_video_clean(mask_track=config["mask_track"])
report["operator"] = {"result": sorted(result), "new": new_strips(editor, before)}

# 2. Matte strip, stepped as the modal operator does on its timer.
matte = strips.new_movie(name="matte", filepath=config["matte"], channel=1, frame_start=start)
matte.mute = True
before = {s.name for s in strips}
select_only(editor, source, matte)
run = addon.CleanRun(bpy.context).start()
statuses, steps = [], 0
while not run.step():
    steps += 1
    statuses.append(run.status())
    time.sleep(0.05)
strip = run.finish()
report["stepped"] = {
    "steps": steps,
    "statuses": statuses[-3:],
    "request": run.plan.request,
    "new": new_strips(editor, before),
    "added": describe(strip),
}

# 3. Cancelled right after the start: no output file, no strip.
before = {s.name for s in strips}
select_only(editor, source)
run = addon.CleanRun(bpy.context, config["mask_track"]).start()
run.cancel()
try:
    run.finish()
    code = None
except hook.HookError as exc:
    code = exc.code
report["cancelled"] = {
    "code": code,
    "output_exists": os.path.exists(run.plan.output),
    "new": new_strips(editor, before),
}

# 4. Nothing selected: the operator refuses with a message.
select_only(editor)
try:
    bpy.ops.sequencer.moebius_video_clean(mask_track=config["mask_track"])
    report["nothing_selected"] = "no error"
except RuntimeError as exc:
    report["nothing_selected"] = str(exc)

with open(config["report"], "w") as f:
    json.dump(report, f, indent=2)
