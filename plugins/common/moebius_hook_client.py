"""Host-neutral client of the moebius-video script hook (plugins/HOOK.md).

Every editor plug-in (Blender, Resolve, Nuke) uses this one file to build a request, run
`moebius-video hook -` in a subprocess and read its JSON-lines events. It is kept only here;
each host's install step copies it next to the plug-in, which imports it as a sibling module
(plugins/README.md). It needs only the Python standard library and runs on Python 3.7+
(Nuke 13, Resolve's system Python, Blender 3.4 and later).

    job = HookJob(build_request("plate.mov", "wires.json", "plate_clean.mov"), tool="moebius-video")
    job.start()
    while not job.finished:          # a UI timer calls poll(); scripts can call wait()
        for event in job.poll():
            print(event)
    done = job.result()              # the "done" event, or raises HookError
"""

from __future__ import annotations

import collections
import json
import os
import queue
import subprocess
import threading
import time

PROTOCOL_VERSION = 1
DEFAULT_TOOL = "moebius-video"

# Host data travels under one key per host; the tool never reads it.
HOST_KEYS = ("blender", "resolve", "nuke")


class HookError(Exception):
    """The hook failed: `code` and `exit_code` as in plugins/HOOK.md, `message` for the user."""

    def __init__(self, code, message, exit_code=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_code = exit_code

    def __str__(self):
        return self.message


def hook_command(tool=DEFAULT_TOOL, roots=()):
    """The argv that runs the hook on a request read from stdin.

    `tool` is the `moebius-video` executable (a name on PATH or a full path), or a Python
    interpreter that has the moebius_video package installed (its name starts with "python").
    `roots`: the folders the request may use (`--root`, see request_roots).
    """
    tool = (tool or DEFAULT_TOOL).strip()
    name = os.path.basename(tool).lower()
    flags = [arg for root in roots for arg in ("--root", os.fspath(root))]
    if name.startswith("python"):
        return [tool, "-m", "moebius_video.commands.hook", *flags, "-"]
    return [tool, "hook", *flags, "-"]


def request_roots(request, cwd=None):
    """The folders of the files a request names: what the host lets the hook use.

    The hook confines a request to its --root folders (plugins/HOOK.md); a plug-in builds its
    request from what the artist picked, so it allows exactly those files' folders: the input,
    the output, the mask track (a file's folder, or the rasters of an inline track), weights
    and the debug preview.
    """
    cwd = cwd or os.getcwd()
    paths = [request.get("input"), request.get("output"), request.get("weights")]
    mask_track = request.get("mask_track")
    if isinstance(mask_track, dict):
        for entry in mask_track.get("tracks") or []:
            source = entry.get("source") if isinstance(entry, dict) else None
            paths.append(source.get("path") if isinstance(source, dict) else None)
    else:
        paths.append(mask_track)
    paths.append((request.get("options") or {}).get("save_debug"))
    roots = []
    for path in paths:
        if not isinstance(path, str) or not path:
            continue
        path = os.path.join(cwd, path)  # absolute paths stay as they are
        # A folder of PNGs is its own root; a file or a pattern (%04d) lives in its folder.
        folder = path if os.path.isdir(path) else os.path.dirname(path)
        folder = os.path.normpath(folder)
        if folder not in roots:
            roots.append(folder)
    return roots


def build_request(
    input,
    mask_track,
    output,
    frame_indices=None,
    frames=None,
    codec=None,
    crf=None,
    overwrite=False,
    model=None,
    device=None,
    host=None,
    host_data=None,
    options=None,
):
    """A version-1 request as a dict (see plugins/HOOK.md for each key).

    mask_track: a path, or an inline track dict (e.g. from `raster_mask_track`).
    frame_indices: (first, last) 0-based indices of the input's frames, inclusive.
    host / host_data: the host's name ("blender", ...) and its own data, carried untouched.
    """
    request = {
        "version": PROTOCOL_VERSION,
        "input": os.fspath(input),
        "mask_track": mask_track if isinstance(mask_track, dict) else os.fspath(mask_track),
        "output": os.fspath(output),
    }
    if frame_indices is not None:
        request["frame_indices"] = [int(frame_indices[0]), int(frame_indices[1])]
    if frames is not None:
        request["frames"] = [int(frames[0]), int(frames[1])]
    if codec:
        request["codec"] = codec
    if crf is not None:
        request["crf"] = int(crf)
    if overwrite:
        request["overwrite"] = True
    if model:
        request["model"] = model
    if device:
        request["device"] = device
    if options:
        request["options"] = dict(options)
    if host:
        request[host] = dict(host_data or {})
    return request


def raster_mask_track(path, width, height, source_format="video"):
    """An inline mask track from a matte: a video (luma > 0.5 removes) or PNG images.

    source_format: "video", or "png" for one image, a printf pattern or a folder of PNGs.
    Matte frame i masks input frame i (both counted from the file's first frame).
    """
    return {
        "schema": "moebius.masktrack/1",
        "width": int(width),
        "height": int(height),
        "scale_to_video": True,
        "tracks": [
            {
                "id": "matte",
                "shape": "raster",
                "source": {"format": source_format, "path": os.fspath(path)},
            }
        ],
    }


def default_output_path(input_path, suffix="_clean", extension=None, folder=None):
    """`<folder>/<name><suffix><ext>` for a file that does not exist yet (`_clean_2`, ...)."""
    folder = folder or os.path.dirname(os.path.abspath(input_path))
    stem, ext = os.path.splitext(os.path.basename(input_path))
    ext = extension or ext or ".mov"
    candidate = os.path.join(folder, stem + suffix + ext)
    number = 2
    while os.path.exists(candidate):
        candidate = os.path.join(folder, f"{stem}{suffix}_{number}{ext}")
        number += 1
    return candidate


def parse_event(line):
    """One stdout line -> an event dict with an "event" key, or None for a line that is not one."""
    line = line.strip()
    if not line:
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        return None
    return event


class HookJob:
    """One run of the hook in a subprocess, read without blocking the host's UI.

    start() launches it; poll() returns the events that arrived since the last call (call it
    from a UI timer); wait() blocks until the end (scripts, background mode). After the end,
    result() gives the "done" event or raises HookError.
    """

    def __init__(self, request, tool=DEFAULT_TOOL, env=None, cwd=None):
        self.request = request
        self.command = hook_command(tool, request_roots(request, cwd))
        self.env = env
        self.cwd = cwd
        self.percent = 0.0
        self.frame = 0
        self.total = 0
        self.warnings = []
        self._process = None
        self._events = queue.Queue()
        self._stderr_tail = collections.deque(maxlen=40)
        self._readers = []
        self._final = None  # the "done" or "error" event
        self._finished = False
        self._cancelled = False

    # -- running ---------------------------------------------------------------------------

    def start(self):
        """Launch the hook and send the request on its stdin."""
        kwargs = {}
        if os.name == "nt":
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        try:
            # A list of arguments and no shell: paths are data, never parsed by a shell.
            self._process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                cwd=self.cwd,
                **kwargs,
            )
        except OSError as exc:
            raise HookError(
                "tool_not_found",
                f"cannot run {self.command[0]!r}: {exc.strerror or exc}. Set the path of the "
                "moebius-video executable (or of a Python that has moebius_video installed) "
                "in the plug-in's settings.",
            ) from None
        self._readers = [
            _start_thread(self._read_stdout, self._process.stdout),
            _start_thread(self._read_stderr, self._process.stderr),
        ]
        try:
            self._process.stdin.write(json.dumps(self.request).encode("utf-8"))
            self._process.stdin.close()
        except OSError:
            pass  # the tool exited before reading; its exit code and stderr tell why
        return self

    def poll(self):
        """The events that arrived since the last call; never blocks."""
        events = []
        while True:
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                break
            if item is _END:
                self._finish()
                break
            events.append(self._track(item))
        return events

    def wait(self, on_event=None, timeout=None):
        """Block until the hook ends, calling on_event(event) for each; returns result()."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self._wait_loop(on_event, deadline, timeout)
        except KeyboardInterrupt:
            self.cancel()
            raise
        return self.result()

    def _wait_loop(self, on_event, deadline, timeout):
        while not self._finished:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self.cancel()
                raise HookError("timeout", f"moebius-video did not finish in {timeout} s")
            try:
                item = self._events.get(timeout=remaining)
            except queue.Empty:
                continue
            if item is _END:
                self._finish()
            else:
                event = self._track(item)
                if on_event is not None:
                    on_event(event)

    def cancel(self, grace_seconds=5.0):
        """Stop the hook: SIGTERM (it then removes its unfinished output), kill after a grace."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        self._cancelled = True
        process.terminate()
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def finished(self):
        return self._finished

    def result(self):
        """The "done" event; raises HookError with the hook's code and message otherwise."""
        if not self._finished:
            raise HookError("running", "moebius-video is still running")
        final = self._final or {}
        if final.get("event") == "done":
            return final
        raise HookError(
            final.get("code", "failed"), final.get("message", "failed"), final.get("exit_code")
        )

    # -- internals -------------------------------------------------------------------------

    def _track(self, event):
        kind = event["event"]
        if kind == "started":
            self.total = int(event.get("total") or 0)
        elif kind == "progress":
            self.percent = float(event.get("percent") or 0.0)
            self.frame = int(event.get("frame") or 0)
            self.total = int(event.get("total") or self.total)
        elif kind == "warning":
            self.warnings.append(str(event.get("message", "")))
        elif kind in ("done", "error"):
            self._final = event
            if kind == "done":
                self.percent = 100.0
        return event

    def _finish(self):
        for reader in self._readers:
            reader.join()
        returncode = self._process.wait()
        if self._cancelled and (self._final or {}).get("event") != "done":
            self._final = {
                "event": "error",
                "code": "interrupted",
                "exit_code": returncode,
                "message": "cancelled",
            }
        elif self._final is None or (self._final.get("event") == "done" and returncode != 0):
            # No final event: the tool crashed, was killed, or is not moebius-video at all.
            tail = "\n".join(self._stderr_tail).strip()
            message = f"moebius-video exited with code {returncode} without a result"
            if tail:
                message += ":\n" + tail
            self._final = {
                "event": "error",
                "code": "crashed",
                "exit_code": returncode,
                "message": message,
            }
        self._finished = True

    def _read_stdout(self, stream):
        try:
            for raw in iter(stream.readline, b""):
                event = parse_event(raw.decode("utf-8", "replace"))
                if event is not None:
                    self._events.put(event)
        finally:
            stream.close()
            self._events.put(_END)

    def _read_stderr(self, stream):
        try:
            for raw in iter(stream.readline, b""):
                self._stderr_tail.append(raw.decode("utf-8", "replace").rstrip())
        finally:
            stream.close()


_END = object()


def _start_thread(target, stream):
    thread = threading.Thread(target=target, args=(stream,), daemon=True)
    thread.start()
    return thread


def run_hook(request, tool=DEFAULT_TOOL, on_event=None, env=None, timeout=None):
    """Run the hook to the end; returns the "done" event or raises HookError."""
    return HookJob(request, tool=tool, env=env).start().wait(on_event=on_event, timeout=timeout)


if __name__ == "__main__":
    print("moebius_hook_client: helper module of the moebius-video plug-ins; nothing to run.")
