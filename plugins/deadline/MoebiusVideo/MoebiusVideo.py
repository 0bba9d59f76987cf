"""Deadline 10 application plugin for moebius-video (a Simple plugin: one command per task).

Install: copy this folder to <DeadlineRepository>/custom/plugins/MoebiusVideo and set the
executable in Tools > Configure Plugins > MoebiusVideo. Submit with
`deadlinecommand job_info.job plugin_info.job` (examples beside this folder).

A shot is two jobs, the second dependent on the first (submit both at once with
`deadlinecommand -SubmitMultipleJobs -dependent -job analyse_job_info.job
analyse_plugin_info.job -job job_info.job plugin_info.job`, or set JobDependencies):

- the analyse job (`Step=Analyse`, one task) runs `moebius-video analyse`, which writes the
  shot analysis (camera motion and coarse masks of every frame) to the `Analysis` file;
- the chunk job: each task renders frames <start>-<end> of the job's frame list into
  per-frame files with --skip-existing, so a requeued or pre-empted task resumes where it
  stopped and every chunk gives the same pixels as a one-process render. It reads the
  analysis (--analysis) instead of analysing the whole shot again, and shares the
  windows it fills with the other tasks in the folder beside it
  (`<name>.analysis.windows`), so a window two chunks need is filled once.

`Analysis` must be on storage every Worker sees; leave it empty to have each task analyse
the shot itself (no analyse job). Options of ExtraArgs that change the analysis
(--shot-cuts, --frame-numbers, --fps, --allow-damaged) are passed to the analyse job too.
The tool prints `Progress: NN%` lines, which set the task's progress bar here.

Exit codes (see the moebius-video README): 0 ok, 2 usage, 3 bad input (fix the job,
do not retry), 75 retryable (out of memory, worker lost: a requeue may pass).
"""

from __future__ import annotations

import shlex

from Deadline.Plugins import DeadlinePlugin, PluginType
from Deadline.Scripting import RepositoryUtils

# Plugin info keys -> moebius-video options (None: positional INPUT).
OPTION_KEYS = (
    ("Input", None),
    ("MaskTrack", "--mask-track"),
    ("Output", "-o"),
    ("Context", "--context"),
    ("Window", "--window"),
    ("Model", "--model"),
    ("Weights", "--weights"),
    ("Device", "--device"),
    ("Analysis", "--analysis"),
)
PATH_KEYS = ("Input", "MaskTrack", "Output", "Weights", "Analysis")
# Options (with a value) and flags of ExtraArgs that change the shot analysis.
ANALYSIS_OPTIONS = ("--shot-cuts", "--frame-numbers", "--fps")
ANALYSIS_FLAGS = ("--allow-damaged",)
EXIT_MEANINGS = {2: "usage error", 3: "bad input", 75: "retryable failure"}


def GetDeadlinePlugin():
    return MoebiusVideoPlugin()


def CleanupDeadlinePlugin(plugin):
    plugin.Cleanup()


def build_arguments(entries, start_frame, end_frame, map_path=lambda path: path):
    """The moebius-video arguments for one task; `entries` are the job's plugin info."""
    if entries.get("Step", "").strip().lower() == "analyse":
        return build_analyse_arguments(entries, map_path)
    args = []
    for key, option in OPTION_KEYS:
        value = entries.get(key, "").strip()
        if not value:
            continue
        if key in PATH_KEYS:
            value = map_path(value)
        args += [value] if option is None else [option, value]
    args += ["--frames", f"{start_frame}-{end_frame}", "--skip-existing", "--progress", "plain"]
    args += shlex.split(entries.get("ExtraArgs", ""))
    return args


def build_analyse_arguments(entries, map_path=lambda path: path):
    """`moebius-video analyse` for the analyse job's one task."""

    def path(key):
        return map_path(entries.get(key, "").strip())

    args = ["analyse", path("Input"), "--mask-track", path("MaskTrack"), "-o", path("Analysis")]
    args += ["-y", "--progress", "plain"]
    extra = shlex.split(entries.get("ExtraArgs", ""))
    for i, arg in enumerate(extra):
        name = arg.split("=", 1)[0]
        if name in ANALYSIS_FLAGS or (name in ANALYSIS_OPTIONS and "=" in arg):
            args.append(arg)
        elif name in ANALYSIS_OPTIONS:
            args += extra[i : i + 2]
    return args


class MoebiusVideoPlugin(DeadlinePlugin):
    def __init__(self):
        super().__init__()
        self.InitializeProcessCallback += self.InitializeProcess
        self.RenderExecutableCallback += self.RenderExecutable
        self.RenderArgumentCallback += self.RenderArgument
        self.CheckExitCodeCallback += self.CheckExitCode

    def Cleanup(self):
        for handler in self.StdoutHandlers:
            del handler.HandleCallback
        del self.InitializeProcessCallback
        del self.RenderExecutableCallback
        del self.RenderArgumentCallback
        del self.CheckExitCodeCallback

    def InitializeProcess(self):
        self.PluginType = PluginType.Simple
        self.StdoutHandling = True
        self.AddStdoutHandlerCallback(r"Progress: (\d+)%").HandleCallback += self.HandleProgress
        self.AddStdoutHandlerCallback(
            r"moebius-video: error: (.*)"
        ).HandleCallback += self.HandleError

    def RenderExecutable(self):
        return self.GetRenderExecutable("Executable", "moebius-video")

    def RenderArgument(self):
        entries = {key: self.GetPluginInfoEntryWithDefault(key, "") for key, _ in OPTION_KEYS}
        for key in ("ExtraArgs", "Step"):
            entries[key] = self.GetPluginInfoEntryWithDefault(key, "")
        args = build_arguments(
            entries, self.GetStartFrame(), self.GetEndFrame(), RepositoryUtils.CheckPathMapping
        )
        return " ".join(shlex.quote(arg) for arg in args)

    def HandleProgress(self):
        self.SetProgress(float(self.GetRegexMatch(1)))
        self.SetStatusMessage(self.GetRegexMatch(0))

    def HandleError(self):
        self.LogWarning(self.GetRegexMatch(0))

    def CheckExitCode(self, exit_code):
        if exit_code != 0:
            meaning = EXIT_MEANINGS.get(exit_code, "internal error")
            self.FailRender(f"moebius-video exited with {exit_code} ({meaning})")
