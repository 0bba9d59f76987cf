"""Small fakes of the only DaVinci Resolve and Nuke API calls the plug-ins make.

Resolve and Nuke cannot run here. These stand-ins implement just the methods the scripts call
(anything else raises AttributeError, so a script that starts using a new call fails its test
until the fake learns it) and record what the scripts did to the host.
"""

from __future__ import annotations

import importlib
import itertools
import sys
import types
from pathlib import Path

_ids = itertools.count(1)


def load_plugin(folder: Path, module_name: str, monkeypatch) -> types.ModuleType:
    """Import a plug-in module from its folder, as the host would (the folder on sys.path)."""
    monkeypatch.syspath_prepend(str(folder))
    for name in (module_name, "moebius_hook_client"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module(module_name)


# --- DaVinci Resolve -----------------------------------------------------------------------------


class ResolveMediaPoolItem:
    def __init__(self, path: str, name: str | None = None):
        self.path = path
        self.name = name or Path(path).name
        self.id = f"clip-{next(_ids)}"

    def GetClipProperty(self, key):
        return {"File Path": self.path}[key]

    def GetUniqueId(self):
        return self.id

    def GetName(self):
        return self.name


class ResolveFolder:
    def __init__(self, name, clips=(), subfolders=()):
        self.name = name
        self.clips = list(clips)
        self.subfolders = list(subfolders)

    def GetClipList(self):
        return list(self.clips)

    def GetSubFolderList(self):
        return list(self.subfolders)


class ResolveTimelineItem:
    def __init__(self, name, media, start, duration, left_offset):
        self.name, self.media = name, media
        self.start, self.duration, self.left_offset = start, duration, left_offset
        self.id = f"item-{next(_ids)}"

    def GetName(self):
        return self.name

    def GetMediaPoolItem(self):
        return self.media

    def GetStart(self):
        return self.start

    def GetDuration(self):
        return self.duration

    def GetLeftOffset(self):
        return self.left_offset

    def GetUniqueId(self):
        return self.id


class ResolveTimelineItemWithTrack(ResolveTimelineItem):
    """Resolve 18.5+ items know their track."""

    def __init__(self, *args, track_index=1, **kwargs):
        super().__init__(*args, **kwargs)
        self.track_index = track_index

    def GetTrackTypeAndIndex(self):
        return ["video", self.track_index]


class ResolveTimeline:
    def __init__(self, name, start_frame, tracks, current_item, marks=None):
        self.name, self.start_frame = name, start_frame
        self.tracks = tracks  # list of lists of items, V1 first
        self.current_item = current_item
        self.marks = marks or {}
        self.added_tracks = 0

    def GetName(self):
        return self.name

    def GetStartFrame(self):
        return self.start_frame

    def GetCurrentVideoItem(self):
        return self.current_item

    def GetMarkInOut(self):
        return self.marks

    def GetTrackCount(self, kind):
        assert kind == "video"
        return len(self.tracks)

    def GetItemListInTrack(self, kind, index):
        assert kind == "video"
        return list(self.tracks[index - 1])

    def AddTrack(self, kind):
        assert kind == "video"
        self.tracks.append([])
        self.added_tracks += 1
        return True


class ResolveMediaPool:
    def __init__(self, root, current):
        self.root, self.current = root, current
        self.imports = []  # (folder name at import time, paths)
        self.appended = []

    def GetRootFolder(self):
        return self.root

    def GetCurrentFolder(self):
        return self.current

    def SetCurrentFolder(self, folder):
        self.current = folder
        return True

    def ImportMedia(self, paths):
        self.imports.append((self.current.name, list(paths)))
        clips = [ResolveMediaPoolItem(p) for p in paths if Path(p).is_file()]
        self.current.clips.extend(clips)
        return clips

    def AppendToTimeline(self, infos):
        self.appended.extend(infos)
        return [object() for _ in infos]


class ResolveProject:
    def __init__(self, timeline, media_pool):
        self.timeline, self.media_pool = timeline, media_pool

    def GetName(self):
        return "demo"

    def GetCurrentTimeline(self):
        return self.timeline

    def GetMediaPool(self):
        return self.media_pool


class Resolve:
    def __init__(self, project):
        self.project = project

    def GetProjectManager(self):
        return self

    def GetCurrentProject(self):
        return self.project


# --- Nuke ----------------------------------------------------------------------------------------


class NukeKnob:
    def __init__(self, value=""):
        self._value = value

    def value(self):
        return self._value

    def setValue(self, value):
        self._value = value


class NukeNode:
    def __init__(self, cls, name, knobs, width=0, height=0, xpos=0, ypos=0):
        self._class, self._name = cls, name
        self._knobs = {key: NukeKnob(value) for key, value in knobs.items()}
        self._size = (width, height)
        self._pos = (xpos, ypos)

    def Class(self):
        return self._class

    def name(self):
        return self._name

    def knobs(self):
        return dict(self._knobs)

    def __getitem__(self, key):
        return self._knobs[key]

    def width(self):
        return self._size[0]

    def height(self):
        return self._size[1]

    def xpos(self):
        return self._pos[0]

    def ypos(self):
        return self._pos[1]

    def setXYpos(self, x, y):
        self._pos = (x, y)


def read_node(name, file, first, last, orig_first=1, orig_last=None, frame_mode="", frame=""):
    return NukeNode(
        "Read",
        name,
        {
            "file": file,
            "first": first,
            "last": last,
            "origfirst": orig_first,
            "origlast": orig_last if orig_last is not None else last,
            "frame_mode": frame_mode,
            "frame": frame,
        },
        width=64,
        height=48,
        xpos=100,
        ypos=200,
    )


class NukeProgressTask:
    def __init__(self, title, cancel_after_progress=None):
        self.title = title
        self.progress = []
        self.messages = []
        self.cancel_after_progress = cancel_after_progress

    def isCancelled(self):
        # Counts progress above 0 only: the user cancels a job that is visibly running, so
        # the hook has started work (and its SIGTERM handler) before the cancel arrives.
        started = sum(1 for value in self.progress if value > 0)
        return self.cancel_after_progress is not None and started >= self.cancel_after_progress

    def setProgress(self, value):
        self.progress.append(value)

    def setMessage(self, text):
        self.messages.append(text)


class NukeMenu:
    def __init__(self):
        self.commands = {}

    def addCommand(self, path, command):
        self.commands[path] = command


def fake_nuke(selected=(), mask_track_answer=None, cancel_after_progress=None) -> types.ModuleType:
    """A `nuke` module with the calls the plug-in makes; its state is on the module."""
    nuke = types.ModuleType("nuke")
    nuke.selected = list(selected)
    nuke.created = []
    nuke.messages = []
    nuke.tasks = []
    nuke.menus = {}

    def Read(**knobs):
        node = NukeNode("Read", f"Read{len(nuke.created) + 10}", {"file": knobs.get("file", "")})
        for key in ("first", "last", "origfirst", "origlast", "frame_mode", "frame"):
            node._knobs[key] = NukeKnob("" if key in ("frame_mode", "frame") else 0)
        nuke.created.append(node)
        return node

    def ProgressTask(title):
        task = NukeProgressTask(title, cancel_after_progress)
        nuke.tasks.append(task)
        return task

    def selectedNode():
        # Nuke: the node selected last; here the first of the list.
        if not nuke.selected:
            raise ValueError("no node selected")
        return nuke.selected[0]

    nuke.selectedNodes = lambda: list(nuke.selected)
    nuke.selectedNode = selectedNode
    nuke.filename = lambda node: node["file"].value()
    nuke.getFilename = lambda title, pattern=None: mask_track_answer
    nuke.message = lambda text: nuke.messages.append(text)
    nuke.root = lambda: types.SimpleNamespace(name=lambda: "/shows/demo/sh010_comp_v001.nk")
    nuke.nodes = types.SimpleNamespace(Read=Read)
    nuke.ProgressTask = ProgressTask
    nuke.executeInMainThread = lambda fn, args=(): fn(*args)
    nuke.menu = lambda name: nuke.menus.setdefault(name, NukeMenu())
    return nuke
