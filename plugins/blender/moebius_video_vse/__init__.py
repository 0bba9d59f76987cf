"""Blender Video Sequencer add-on: clean the selected movie strip with moebius-video.

Select a movie strip (and, optionally, a second strip holding a matte, or set a mask-track file
in the sidebar's "Moebius" tab), then Strip > Moebius Video: Clean Strip. The add-on runs
`moebius-video hook` in a background process (plugins/HOOK.md) on the frames the strip uses,
shows progress in the status bar (Esc cancels), and puts the cleaned clip on the first free
channel above, frame for frame over the source.

Works with Blender 3.4 and later, including 4.4+/5.x where `sequences` became `strips`. When
Blender runs in the background (`blender -b`) or a script calls the operator, the same job
runs to the end synchronously.
"""

import os

import bpy
from bpy.props import EnumProperty, PointerProperty, StringProperty

from . import moebius_hook_client as hook

# Blender reads bl_info without importing the module: keep it one block with no blank line.
bl_info = {
    "name": "Moebius Video: Clean Strip",
    "author": "moebius-video contributors",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "Video Sequencer > Strip > Moebius Video: Clean Strip; sidebar > Moebius",
    "description": "Remove wires, rigs and objects from a movie strip with moebius-video",
    "category": "Sequencer",
}


# The preferences key: the package name for a legacy add-on, "bl_ext.<repo>.<id>" for an
# extension (Blender 4.2+).
ADDON_ID = __package__

CODECS = (
    ("libx264", "H.264", "Small files, lossy (CRF 16); keeps the source's container", ".mp4"),
    ("prores_ks", "ProRes", "ProRes in a .mov, for finishing", ".mov"),
    ("ffv1", "FFV1 (lossless)", "Lossless .mkv: pixels outside the mask stay identical", ".mkv"),
)
TIMER_SECONDS = 0.2


# --- sequencer API differences between Blender versions -------------------------------------


def top_level_strips(editor):
    """The strips of the edit (not inside metas): `strips` since 4.4, `sequences` before."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def selected_strips(editor):
    return [strip for strip in top_level_strips(editor) if strip.select]


# --- what to clean ----------------------------------------------------------------------------


class SelectionError(Exception):
    """The selection or settings do not describe a job; the message tells the user what to do."""


class CleanPlan:
    """Everything a job needs, read from the sequencer before it starts.

    The strip may be renamed or moved while the job runs, so its placement is copied here.
    """

    def __init__(self, scene, source, request, output, first_index, last_index):
        self.scene_name = scene.name
        self.source_name = source.name
        self.channel = source.channel
        self.frame_start = source.frame_start
        self.final_start = source.frame_final_start
        self.final_end = source.frame_final_end
        self.animation_offset = int(round(getattr(source, "animation_offset_start", 0)))
        self.relative_path = source.filepath.startswith("//")
        self.colorspace = source.colorspace_settings.name
        self.request = request
        self.output = output
        self.first_index = first_index
        self.last_index = last_index


def source_frame_range(strip):
    """0-based indices of the frames of the strip's file that the edit shows, inclusive.

    A movie strip shows file frame `animation_offset_start + (t - frame_start)` at timeline
    frame t, for t in [frame_final_start, frame_final_end).
    """
    offset = int(round(getattr(strip, "animation_offset_start", 0)))
    first = offset + int(round(strip.frame_final_start - strip.frame_start))
    last = first + int(round(strip.frame_final_duration)) - 1
    return first, last


def find_source_and_mask(editor):
    """(movie strip to clean, optional matte strip) from the selection."""
    selected = selected_strips(editor)
    active = editor.active_strip
    movies = [s for s in selected if s.type == "MOVIE"]
    if active is not None and active.select and active.type == "MOVIE":
        source = active
    elif len(movies) == 1:
        source = movies[0]
    elif not movies:
        raise SelectionError("Select the movie strip to clean")
    else:
        raise SelectionError("Several movie strips are selected: make the one to clean active")
    others = [s for s in selected if s != source]
    if len(others) > 1:
        raise SelectionError("Select the movie strip and at most one matte strip")
    return source, (others[0] if others else None)


def check_source(strip, scene):
    if getattr(strip, "use_reverse_frames", False):
        raise SelectionError(f"{strip.name}: reversed strips are not supported")
    if abs(getattr(strip, "speed_factor", 1.0) - 1.0) > 1e-6:
        raise SelectionError(f"{strip.name}: strips with a speed change are not supported")
    if len(getattr(strip, "retiming_keys", ())) > 2:
        raise SelectionError(f"{strip.name}: retimed strips are not supported")
    path = bpy.path.abspath(strip.filepath)
    if not os.path.isfile(path):
        raise SelectionError(f"{strip.name}: the strip's file is missing: {path}")
    return path


def matte_mask_track(matte, source, width, height):
    """An inline mask track from a matte strip lined up with the source strip's content."""
    if matte.frame_start != source.frame_start:
        raise SelectionError(
            f"{matte.name}: the matte must start where the source's content starts "
            f"(frame {source.frame_start:g}, not {matte.frame_start:g})"
        )
    if matte.type == "MOVIE":
        path = bpy.path.abspath(matte.filepath)
        return hook.raster_mask_track(path, width, height, "video")
    if matte.type == "IMAGE":
        folder = bpy.path.abspath(matte.directory)
        names = [element.filename for element in matte.elements]
        if len(names) == 1:
            return hook.raster_mask_track(os.path.join(folder, names[0]), width, height, "png")
        pngs = sorted(n for n in os.listdir(folder) if n.lower().endswith(".png"))
        if sorted(names) != pngs:
            raise SelectionError(
                f"{matte.name}: the matte's folder must hold exactly its PNG images: {folder}"
            )
        return hook.raster_mask_track(folder, width, height, "png")
    raise SelectionError(
        f"{matte.name}: a {matte.type.lower()} strip cannot be a matte; use a movie or image "
        "strip (white = remove), or set a mask-track file in the sidebar"
    )


def output_extension(codec, source_path):
    for name, _label, _description, extension in CODECS:
        if name == codec and name != "libx264":
            return extension
    return os.path.splitext(source_path)[1] or ".mp4"


def plan_clean(context, mask_track_path=""):
    """Read the selection and settings into a CleanPlan; raises SelectionError."""
    scene = context.scene
    editor = scene.sequence_editor
    if editor is None:
        raise SelectionError("This scene has no sequencer strips")
    source, matte = find_source_and_mask(editor)
    path = check_source(source, scene)
    first, last = source_frame_range(source)
    prefs = addon_preferences(context)

    mask_track_path = mask_track_path or scene.moebius_video.mask_track
    if matte is not None:
        width, height = source.elements[0].orig_width, source.elements[0].orig_height
        if not width or not height:
            width, height = scene.render.resolution_x, scene.render.resolution_y
        mask_track = matte_mask_track(matte, source, width, height)
    elif mask_track_path:
        mask_track = bpy.path.abspath(mask_track_path)
        if not os.path.exists(mask_track):
            raise SelectionError(f"Mask-track file not found: {mask_track}")
    else:
        raise SelectionError(
            "No mask: select a matte strip with the movie strip, or set a mask-track file "
            "in the sidebar (Moebius tab)"
        )

    folder = bpy.path.abspath(prefs.output_folder) if prefs.output_folder else None
    output = hook.default_output_path(
        path, "_clean", output_extension(prefs.codec, path), folder=folder
    )
    request = hook.build_request(
        path,
        mask_track,
        output,
        frame_indices=(first, last),
        codec=prefs.codec,
        model=prefs.model or None,
        host="blender",
        host_data={
            "version": list(bpy.app.version),
            "scene": scene.name,
            "strip": source.name,
            "channel": source.channel,
            "frame_final_start": source.frame_final_start,
        },
    )
    return CleanPlan(scene, source, request, output, first, last)


# --- bringing the result in --------------------------------------------------------------------


def free_channel_above(editor, channel, start, end):
    """The first channel above `channel` with nothing in [start, end)."""
    candidate = channel + 1
    while candidate <= 128:
        busy = any(
            s.channel == candidate and s.frame_final_start < end and s.frame_final_end > start
            for s in top_level_strips(editor)
        )
        if not busy:
            return candidate
        candidate += 1
    raise SelectionError("No free channel above the source strip")


def add_result_strip(plan, done):
    """Add the cleaned clip above the source, so that each frame sits over its source frame."""
    scene = bpy.data.scenes.get(plan.scene_name)
    if scene is None or scene.sequence_editor is None:
        raise SelectionError(f"Scene {plan.scene_name!r} is gone; the result is {plan.output}")
    editor = scene.sequence_editor
    output = done.get("output") or plan.output
    indices = done.get("stats", {}).get("frame_indices") or [plan.first_index, plan.last_index]
    # Output frame k is input frame indices[0] + k, shown at frame_start + (index - offset).
    frame_start = int(round(plan.frame_start)) + indices[0] - plan.animation_offset
    channel = free_channel_above(editor, plan.channel, plan.final_start, plan.final_end)
    filepath = output
    if plan.relative_path and bpy.data.filepath:
        filepath = bpy.path.relpath(output)
    name = os.path.basename(output)
    strip = top_level_strips(editor).new_movie(
        name=name, filepath=filepath, channel=channel, frame_start=frame_start
    )
    # Trim to the source's cut in case the output holds more than the cut.
    if strip.frame_final_start < plan.final_start:
        strip.frame_final_start = int(plan.final_start)
    if strip.frame_final_end > plan.final_end:
        strip.frame_final_end = int(plan.final_end)
    try:
        strip.colorspace_settings.name = plan.colorspace
    except TypeError:  # a colour space this Blender does not know: keep its default
        pass
    for other in selected_strips(editor):
        other.select = False
    strip.select = True
    editor.active_strip = strip
    return strip


# --- preferences, scene settings, UI ------------------------------------------------------------


class MoebiusVideoPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    tool: StringProperty(
        name="moebius-video",
        description=(
            "The moebius-video executable (a name on PATH or a full path), or a Python "
            "interpreter that has moebius_video installed"
        ),
        default=hook.DEFAULT_TOOL,
        subtype="FILE_PATH",
    )
    codec: EnumProperty(
        name="Codec",
        items=[(name, label, description) for name, label, description, _ext in CODECS],
        default="libx264",
    )
    output_folder: StringProperty(
        name="Output Folder",
        description="Where cleaned clips go; empty: next to the source file",
        default="",
        subtype="DIR_PATH",
    )
    model: StringProperty(
        name="Model",
        description="Model variant (moebius-video models list); empty: the default",
        default="",
    )

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "tool")
        layout.prop(self, "codec")
        layout.prop(self, "output_folder")
        layout.prop(self, "model")


class _DefaultPreferences:
    """Used when the add-on was registered without being enabled (scripts, tests)."""

    tool = hook.DEFAULT_TOOL
    codec = "libx264"
    output_folder = ""
    model = ""


def addon_preferences(context):
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else _DefaultPreferences()


class MoebiusVideoSceneSettings(bpy.types.PropertyGroup):
    mask_track: StringProperty(
        name="Mask Track",
        description=(
            "moebius.masktrack/1 JSON (or a PNG folder, PNG or matte video) used when no matte "
            "strip is selected"
        ),
        default="",
        subtype="FILE_PATH",
    )


class CleanRun:
    """One job: the plan, the hook subprocess, then the result strip.

    The modal operator calls step() from a timer; execute() (scripts, `blender -b`) calls
    run_to_end(). Both read the same events and add the strip with the same code.
    """

    def __init__(self, context, mask_track=""):
        self.plan = plan_clean(context, mask_track)
        self.job = hook.HookJob(self.plan.request, tool=addon_preferences(context).tool)
        self.warnings = []
        self._reported = 0

    def start(self):
        self.job.start()
        return self

    def step(self):
        """Take the events that arrived; True once the job has ended."""
        for event in self.job.poll():
            self._note(event)
        return self.job.finished

    def run_to_end(self):
        """Block until the job ends (printing progress), then add the strip."""
        self.job.wait(on_event=self._note)
        return self.finish()

    def status(self):
        job = self.job
        return (
            f"Moebius Video: {job.percent:.0f}% ({job.frame}/{job.total} frames) "
            f"on {self.plan.source_name}, Esc cancels"
        )

    def new_warnings(self):
        """Warnings not handed out yet (the operator reports each once)."""
        fresh = self.warnings[self._reported :]
        self._reported = len(self.warnings)
        return fresh

    def finish(self):
        """The result strip; raises HookError when the job failed or was cancelled."""
        return add_result_strip(self.plan, self.job.result())

    def cancel(self):
        self.job.cancel()
        while not self.step():
            pass

    def _note(self, event):
        kind = event["event"]
        if kind == "warning":
            self.warnings.append(str(event.get("message", "")))
        if bpy.app.background and kind in ("progress", "warning"):
            print(f"Moebius Video: {kind}: {event.get('percent', event.get('message'))}")


class SEQUENCER_OT_moebius_video_clean(bpy.types.Operator):
    """Remove what the mask covers from the selected movie strip, with moebius-video"""

    bl_idname = "sequencer.moebius_video_clean"
    bl_label = "Moebius Video: Clean Strip"
    bl_options = {"REGISTER"}

    mask_track: StringProperty(
        name="Mask Track",
        description="Mask-track file for this run (default: the scene's, in the sidebar)",
        default="",
        subtype="FILE_PATH",
    )

    _timer = None
    _run = None

    @classmethod
    def poll(cls, context):
        scene = context.scene
        return scene is not None and scene.sequence_editor is not None

    def execute(self, context):
        """Scripts and background mode: run to the end, then add the strip."""
        try:
            strip = CleanRun(context, self.mask_track).start().run_to_end()
        except (SelectionError, hook.HookError) as exc:
            self.report({"ERROR"}, f"Moebius Video: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Moebius Video: added {strip.name} on channel {strip.channel}")
        return {"FINISHED"}

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        try:
            self._run = CleanRun(context, self.mask_track).start()
        except (SelectionError, hook.HookError) as exc:
            self.report({"ERROR"}, f"Moebius Video: {exc}")
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_SECONDS, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        _set_status(context, self._run.status())
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        run = self._run
        if event.type == "ESC" and event.value == "PRESS":
            run.cancel()
            self._end(context)
            self.report({"WARNING"}, "Moebius Video: cancelled; no output was written")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}  # the UI stays usable while the job runs
        ended = run.step()
        for message in run.new_warnings():
            self.report({"WARNING"}, f"Moebius Video: {message}")
        if not ended:
            context.window_manager.progress_update(run.job.percent)
            _set_status(context, run.status())
            return {"PASS_THROUGH"}
        self._end(context)
        try:
            strip = run.finish()
        except (SelectionError, hook.HookError) as exc:
            self.report({"ERROR"}, f"Moebius Video: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Moebius Video: added {strip.name} on channel {strip.channel}")
        return {"FINISHED"}

    def _end(self, context):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        _set_status(context, None)


def _set_status(context, text):
    workspace = getattr(context, "workspace", None)
    if workspace is not None:
        workspace.status_text_set(text)


class SEQUENCER_PT_moebius_video(bpy.types.Panel):
    bl_label = "Moebius Video"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Moebius"

    def draw(self, context):
        layout = self.layout
        layout.prop(context.scene.moebius_video, "mask_track")
        layout.label(text="Or select a matte strip with the movie strip.")
        layout.operator(SEQUENCER_OT_moebius_video_clean.bl_idname, icon="BRUSH_DATA")


def _menu(self, context):
    self.layout.separator()
    self.layout.operator(SEQUENCER_OT_moebius_video_clean.bl_idname)


CLASSES = (
    MoebiusVideoPreferences,
    MoebiusVideoSceneSettings,
    SEQUENCER_OT_moebius_video_clean,
    SEQUENCER_PT_moebius_video,
)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.moebius_video = PointerProperty(type=MoebiusVideoSceneSettings)
    bpy.types.SEQUENCER_MT_strip.append(_menu)


def unregister():
    bpy.types.SEQUENCER_MT_strip.remove(_menu)
    del bpy.types.Scene.moebius_video
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
