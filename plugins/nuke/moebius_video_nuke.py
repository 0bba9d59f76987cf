"""Nuke: clean a Read node's clip with moebius-video and read the result back.

Menu: Nuke > Moebius Video > Clean Read Node (installed by menu.py). Select a Read node (and,
optionally, a second Read node holding a matte, white = remove); without a matte Read you are
asked for a mask-track file. The frames the Read node uses (`first`..`last`) go through
`moebius-video hook` (plugins/HOOK.md) in a background thread with a progress bar you can
cancel; a new Read node for the result appears next to the source, on the same frames.

Settings come from the environment: MOEBIUS_VIDEO_TOOL (default `moebius-video`),
MOEBIUS_VIDEO_CODEC (default `prores_ks`, written as .mov), MOEBIUS_VIDEO_MODEL (default: the
tool's).
"""

from __future__ import annotations

import os
import re
import threading
import time

import moebius_hook_client as hook
import nuke

CODEC_EXTENSIONS = {"prores_ks": ".mov", "ffv1": ".mkv", "libx264": ".mov"}
MENU_PATH = "Moebius Video/Clean Read Node"


class NukeScriptError(Exception):
    """Something the user can fix; the message says what."""


class Plan:
    """What to clean, read from the Read node before the job starts.

    Nuke numbers the frames of a file `origfirst`..`origlast` (1.. for a movie, the numbers in
    the file names for a sequence); `first`..`last` are the ones the node uses.
    """

    def __init__(self, node, media_path, mask_track, output):
        self.node_name = node.name()
        self.media_path = media_path
        self.mask_track = mask_track
        self.output = output
        self.orig_first = int(node["origfirst"].value())
        self.first = int(node["first"].value())
        self.last = int(node["last"].value())
        self.start_time = start_time_of_first(node)
        self.xpos, self.ypos = node.xpos(), node.ypos()

    @property
    def frame_indices(self):
        return self.first - self.orig_first, self.last - self.orig_first


def start_time_of_first(node):
    """The script frame at which the node shows its frame `first` (its frame_mode/frame)."""
    first = int(node["first"].value())
    mode = node["frame_mode"].value() if "frame_mode" in node.knobs() else ""
    value = node["frame"].value() if "frame" in node.knobs() else ""
    if mode == "start at" and str(value).strip():
        return int(float(value))
    if mode == "offset" and str(value).strip():
        return first + int(float(value))
    return first


def media_path_of(node):
    """The Read node's file as a path moebius-video reads: `####` becomes `%04d`."""
    path = nuke.filename(node) or node["file"].value()
    path = re.sub(r"#+", lambda m: f"%0{len(m.group(0))}d", path)
    if "%" not in os.path.basename(path) and not os.path.isfile(path):
        raise NukeScriptError(f"{node.name()}: file not found: {path}")
    return path


def matte_mask_track(matte_node, width, height):
    path = media_path_of(matte_node)
    is_movie = os.path.splitext(path)[1].lower() in (".mov", ".mp4", ".mkv", ".avi", ".mxf")
    return hook.raster_mask_track(path, width, height, "video" if is_movie else "png")


def plan_from_selection(ask_for_mask_track=None, codec=None):
    """The Plan for the selected Read node(s). ask_for_mask_track() returns a path or None."""
    reads = [n for n in nuke.selectedNodes() if n.Class() == "Read"]
    if not reads:
        raise NukeScriptError("Select the Read node to clean")
    if len(reads) > 2:
        raise NukeScriptError("Select one Read node, and at most one matte Read node")
    # selectedNode() is the node selected last: the source; the other Read is the matte.
    source = nuke.selectedNode()
    if source not in reads:
        raise NukeScriptError("Select the Read node to clean last (after the matte)")
    others = [n for n in reads if n is not source]
    matte = others[0] if others else None
    media_path = media_path_of(source)
    if matte is not None:
        mask_track = matte_mask_track(matte, source.width(), source.height())
    else:
        mask_track = (ask_for_mask_track or _ask_for_mask_track)()
        if not mask_track:
            raise NukeScriptError("No mask track chosen")
    codec = codec or os.environ.get("MOEBIUS_VIDEO_CODEC") or "prores_ks"
    extension = CODEC_EXTENSIONS.get(codec, ".mov")
    stem_source = re.sub(r"[._]?%0\d+d", "", media_path)  # plate.%04d.exr -> plate.exr
    output = hook.default_output_path(stem_source, "_clean", extension)
    return Plan(source, media_path, mask_track, output), codec


def _ask_for_mask_track():
    return nuke.getFilename("Moebius Video: mask track", "*.json *.png *.mov *.mp4")


def build_request(plan, codec):
    return hook.build_request(
        plan.media_path,
        plan.mask_track,
        plan.output,
        frame_indices=plan.frame_indices,
        codec=codec,
        model=os.environ.get("MOEBIUS_VIDEO_MODEL") or None,
        host="nuke",
        host_data={"node": plan.node_name, "script": nuke.root().name()},
    )


def create_result_read(plan, done):
    """A Read node for the output, beside the source, showing output frame k at the script
    frame where the source shows its frame first + k."""
    output = done["output"]
    count = int(done["stats"]["frames"])
    read = nuke.nodes.Read(file=output)
    # A movie's frames are numbered from 1 in Nuke.
    read["origfirst"].setValue(1)
    read["origlast"].setValue(count)
    read["first"].setValue(1)
    read["last"].setValue(count)
    index_first = done["stats"]["frame_indices"][0]
    read["frame_mode"].setValue("start at")
    start = plan.start_time + (index_first - (plan.first - plan.orig_first))
    read["frame"].setValue(str(start))
    read.setXYpos(plan.xpos + 110, plan.ypos)
    return read


def run_job(plan, codec, tool=None, progress_task=None):
    """Run the hook to the end; returns the done event. Raises HookError (also on cancel)."""
    tool = tool or os.environ.get("MOEBIUS_VIDEO_TOOL") or hook.DEFAULT_TOOL
    job = hook.HookJob(build_request(plan, codec), tool=tool).start()
    while not job.finished:
        job.poll()
        if progress_task is not None:
            if progress_task.isCancelled():
                job.cancel()
            progress_task.setProgress(int(job.percent))
            progress_task.setMessage(f"{plan.node_name}: frame {job.frame} of {job.total}")
        time.sleep(0.1)
    return job.result()


def clean_selected_read(ask_for_mask_track=None, codec=None, tool=None):
    """The menu command: plan on the main thread, run in a thread, add the Read on the main
    thread. Returns the worker thread (None when nothing could start)."""
    try:
        plan, codec = plan_from_selection(ask_for_mask_track, codec)
    except NukeScriptError as exc:
        nuke.message(f"Moebius Video: {exc}")
        return None

    def work():
        task = nuke.ProgressTask(f"Moebius Video: {plan.node_name}")
        try:
            done = run_job(plan, codec, tool=tool, progress_task=task)
        except hook.HookError as exc:
            nuke.executeInMainThread(nuke.message, args=(f"Moebius Video: {exc}",))
            return
        finally:
            del task  # closes the progress bar
        nuke.executeInMainThread(create_result_read, args=(plan, done))

    thread = threading.Thread(target=work, name="moebius-video", daemon=True)
    thread.start()
    return thread


def install_menu():
    """Called from menu.py."""
    nuke.menu("Nuke").addCommand(MENU_PATH, clean_selected_read)
