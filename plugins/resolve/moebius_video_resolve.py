"""DaVinci Resolve script: clean the current timeline clip with moebius-video.

Workspace > Scripts > moebius_video_resolve runs it on the video clip under the playhead of the
current timeline: the frames of its media that the edit uses (narrowed to the timeline's mark
in/out, when set) go through `moebius-video hook` (plugins/HOOK.md); the cleaned clip is
imported into the media pool folder of the source and, optionally, placed on the video track
above, frame for frame over the source.

The mask track is the first of: $MOEBIUS_VIDEO_MASK_TRACK, or a file next to the media named
`<name>.masktrack.json` or `<name>_mask.json`. Settings come from the environment:
MOEBIUS_VIDEO_TOOL (default `moebius-video`), MOEBIUS_VIDEO_CODEC (default `libx264`),
MOEBIUS_VIDEO_MODEL (default: the tool's), MOEBIUS_VIDEO_ADD_TO_TIMELINE (`0` leaves the
timeline alone; default `1`: place the result on the track above).

Resolve runs scripts synchronously, so Resolve waits while the job runs; progress is printed
to the Console (Workspace > Console).
"""

from __future__ import annotations

import os
import sys


def _script_folder():
    # Resolve may run a script without __file__; then the environment says where it lives.
    try:
        return os.path.dirname(os.path.abspath(__file__))
    except NameError:
        return os.environ.get("MOEBIUS_VIDEO_RESOLVE_DIR", "")


if _script_folder() and _script_folder() not in sys.path:
    sys.path.insert(0, _script_folder())

import moebius_hook_client as hook  # noqa: E402  (found next to this script)

CODEC_EXTENSIONS = {"prores_ks": ".mov", "ffv1": ".mkv"}


class ResolveScriptError(Exception):
    """Something the user can fix; the message says what."""


class Settings:
    def __init__(self, tool=None, codec=None, add_to_timeline=None, mask_track=None, model=None):
        env = os.environ
        self.tool = tool or env.get("MOEBIUS_VIDEO_TOOL") or hook.DEFAULT_TOOL
        self.codec = codec or env.get("MOEBIUS_VIDEO_CODEC") or "libx264"
        self.model = model or env.get("MOEBIUS_VIDEO_MODEL") or None
        if add_to_timeline is None:
            add_to_timeline = env.get("MOEBIUS_VIDEO_ADD_TO_TIMELINE", "1") not in ("0", "")
        self.add_to_timeline = add_to_timeline
        self.mask_track = mask_track or env.get("MOEBIUS_VIDEO_MASK_TRACK") or None


def get_resolve():
    """The Resolve object: a global inside Resolve, or via DaVinciResolveScript outside."""
    # Resolve puts `resolve` (and `bmd`) into the namespace of the scripts it runs.
    for namespace in (globals(), vars(sys.modules.get("__main__", sys))):
        if namespace.get("resolve") is not None:
            return namespace["resolve"]
        if namespace.get("bmd") is not None:
            return namespace["bmd"].scriptapp("Resolve")
    try:
        import DaVinciResolveScript
    except ImportError:
        raise ResolveScriptError(
            "Run this from Resolve (Workspace > Scripts), or set up DaVinciResolveScript"
        ) from None
    return DaVinciResolveScript.scriptapp("Resolve")


class Plan:
    """What to clean, read from the timeline before the job starts."""

    def __init__(self, media_path, mask_track, first_index, last_index, item_start, left_offset):
        self.media_path = media_path
        self.mask_track = mask_track
        self.first_index = first_index
        self.last_index = last_index
        self.item_start = item_start
        self.left_offset = left_offset

    def record_frame(self, index):
        """The timeline frame that shows source frame `index` of the item."""
        return self.item_start + index - self.left_offset


def used_range(timeline, item):
    """Timeline frames [start, end) of the item, narrowed to the mark in/out when set."""
    start = item.GetStart()
    end = start + item.GetDuration()
    marks = timeline.GetMarkInOut() if hasattr(timeline, "GetMarkInOut") else {}
    video = (marks or {}).get("video") or {}
    # Marks count from the timeline's start frame; the out mark is inclusive.
    if "in" in video:
        start = max(start, timeline.GetStartFrame() + int(video["in"]))
    if "out" in video:
        end = min(end, timeline.GetStartFrame() + int(video["out"]) + 1)
    if end <= start:
        raise ResolveScriptError("The timeline's mark in/out does not cover the current clip")
    return start, end


def find_mask_track(media_path, settings):
    if settings.mask_track:
        if not os.path.exists(settings.mask_track):
            raise ResolveScriptError(f"Mask track not found: {settings.mask_track}")
        return settings.mask_track
    stem = os.path.splitext(media_path)[0]
    for candidate in (stem + ".masktrack.json", stem + "_mask.json"):
        if os.path.isfile(candidate):
            return candidate
    raise ResolveScriptError(
        f"No mask track for {os.path.basename(media_path)}: put {os.path.basename(stem)}"
        ".masktrack.json next to it, or set MOEBIUS_VIDEO_MASK_TRACK"
    )


def plan_current_item(project, settings):
    timeline = project.GetCurrentTimeline()
    if timeline is None:
        raise ResolveScriptError("Open a timeline first")
    item = timeline.GetCurrentVideoItem()
    if item is None:
        raise ResolveScriptError("Put the playhead over the video clip to clean")
    media = item.GetMediaPoolItem()
    media_path = media.GetClipProperty("File Path") if media is not None else ""
    if not media_path or not os.path.isfile(media_path):
        raise ResolveScriptError(f"{item.GetName()}: its media is not a file on disk")
    start, end = used_range(timeline, item)
    left = item.GetLeftOffset()
    first = left + (start - item.GetStart())
    last = first + (end - start) - 1
    mask_track = find_mask_track(media_path, settings)
    return timeline, item, media, Plan(media_path, mask_track, first, last, item.GetStart(), left)


def folder_holding(media_pool, clip):
    """The media pool folder that holds `clip` (searched from the root), else the current one."""
    wanted = clip.GetUniqueId()
    pending = [media_pool.GetRootFolder()]
    while pending:
        folder = pending.pop()
        if any(c.GetUniqueId() == wanted for c in (folder.GetClipList() or [])):
            return folder
        pending.extend(folder.GetSubFolderList() or [])
    return media_pool.GetCurrentFolder()


def track_index_of(timeline, item):
    if hasattr(item, "GetTrackTypeAndIndex"):
        return int(item.GetTrackTypeAndIndex()[1])
    wanted = item.GetUniqueId()
    for index in range(1, timeline.GetTrackCount("video") + 1):
        if any(i.GetUniqueId() == wanted for i in timeline.GetItemListInTrack("video", index)):
            return index
    raise ResolveScriptError(f"{item.GetName()}: not found on any video track")


def import_result(project, timeline, item, source_clip, plan, done, settings):
    """Import the output next to the source clip; optionally place it on the track above."""
    media_pool = project.GetMediaPool()
    previous = media_pool.GetCurrentFolder()
    media_pool.SetCurrentFolder(folder_holding(media_pool, source_clip))
    try:
        imported = media_pool.ImportMedia([done["output"]])
    finally:
        media_pool.SetCurrentFolder(previous)
    if not imported:
        raise ResolveScriptError(f"Resolve could not import {done['output']}")
    clip = imported[0]
    if settings.add_to_timeline:
        first, last = done["stats"]["frame_indices"]
        above = track_index_of(timeline, item) + 1
        while timeline.GetTrackCount("video") < above:
            timeline.AddTrack("video")
        placed = media_pool.AppendToTimeline(
            [
                {
                    "mediaPoolItem": clip,
                    "startFrame": 0,
                    "endFrame": last - first,  # inclusive
                    "trackIndex": above,
                    "recordFrame": plan.record_frame(first),
                    "mediaType": 1,  # video only: the audio stays on the source
                }
            ]
        )
        if not placed:
            raise ResolveScriptError(
                f"Imported {done['output']} but could not place it on V{above}"
            )
    return clip


def clean_current_item(resolve, settings=None, on_event=None):
    """Run the whole job; returns the imported media pool item.

    Raises ResolveScriptError (the timeline or settings) or HookError (the job failed).
    """
    settings = settings or Settings()
    project = resolve.GetProjectManager().GetCurrentProject()
    if project is None:
        raise ResolveScriptError("Open a project first")
    timeline, item, source_clip, plan = plan_current_item(project, settings)
    extension = CODEC_EXTENSIONS.get(settings.codec) or os.path.splitext(plan.media_path)[1]
    output = hook.default_output_path(plan.media_path, "_clean", extension)
    request = hook.build_request(
        plan.media_path,
        plan.mask_track,
        output,
        frame_indices=(plan.first_index, plan.last_index),
        codec=settings.codec,
        model=settings.model,
        host="resolve",
        host_data={
            "project": project.GetName(),
            "timeline": timeline.GetName(),
            "item": item.GetName(),
        },
    )
    done = hook.run_hook(request, tool=settings.tool, on_event=on_event or _print_event)
    return import_result(project, timeline, item, source_clip, plan, done, settings)


def _print_event(event):
    if event["event"] == "progress":
        print(f"moebius-video: {event.get('percent', 0):.0f}%")
    elif event["event"] == "warning":
        print(f"moebius-video: warning: {event.get('message', '')}")


def main():
    try:
        clip = clean_current_item(get_resolve())
    except (ResolveScriptError, hook.HookError) as exc:
        print(f"moebius-video: {exc}")
        return 1
    print(f"moebius-video: imported {clip.GetName()}")
    return 0


if __name__ == "__main__":
    main()
