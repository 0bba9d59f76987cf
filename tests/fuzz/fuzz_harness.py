"""Runs fuzz cases: each in a forked child of one process that imported moebius_video once,
under a memory rlimit and a wall-time alarm, through the real entry point `cli.main`.

A case is a folder (inputs under it, the child's working directory) and an argv. The
parent hashes the folder before and after, and judges the run:

- correct: exit 0, and exactly the outputs the case names appeared, each decoding to the
  frame count it expects; nothing else in the folder changed;
- clean: a documented non-zero exit code of that command, one `moebius-video: error:` line,
  no output (a batch's failed shots none; its good shots correct), the folder as before;
- other: anything else (exit 1, a signal, a timeout, a traceback or `internal error` on
  stderr, a file left behind or changed, a hook whose last event does not match its exit).

`python tests/fuzz/fuzz_harness.py` runs every family and prints the counts table.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import resource
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
for _folder in (TESTS.parent, TESTS, TESTS / "io", TESTS / "masks"):
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

import av  # noqa: E402

from moebius_video import cli  # noqa: E402
from moebius_video.errors import (  # noqa: E402
    EXIT_BAD_INPUT,
    EXIT_BATCH_PARTIAL,
    EXIT_OK,
    EXIT_USAGE,
)

# The clean non-zero exits of each command (README, "Exit codes"). 1 (internal error),
# 75 (retryable: out of memory here means a limit was not checked in time) and 130 are not.
CLEAN_EXITS = {
    "run": frozenset({EXIT_USAGE, EXIT_BAD_INPUT}),
    "batch": frozenset({EXIT_USAGE, EXIT_BAD_INPUT, EXIT_BATCH_PARTIAL}),
    "hook": frozenset({EXIT_USAGE, EXIT_BAD_INPUT}),
}
# Address space a child may add to what the parent already maps (the parent maps ~1 GiB
# with moebius_video, PyAV and OpenCV loaded; more under a pytest run that imported torch).
MEMORY_HEADROOM = 2 * 2**30
CASE_SECONDS = 30  # one case takes well under a second; the alarm only catches hangs
JOBS = 2
ANY_FRAMES = -1  # an output that must decode, of any frame count (a --save-debug preview)
FOLDER = -2  # an output folder the run makes
DIRTY = ("Traceback", "internal error", "Fatal Python error")


@dataclass
class Case:
    """One run: `argv` from the case folder; `outputs` (relative path -> frames) are the
    files a successful run writes; `expect_error`: exit 0 would be wrong."""

    family: str
    name: str
    folder: Path
    argv: list[str]
    outputs: dict[str, int] = field(default_factory=dict)
    expect_error: bool = False
    expect_stderr: str | None = None  # text a successful run must print (a warning)

    @property
    def command(self) -> str:
        return self.argv[0] if self.argv[0] in ("batch", "hook") else "run"


@dataclass
class Outcome:
    case: Case
    verdict: str  # "correct", "clean" or "other"
    exit_code: int | None
    seconds: float
    max_rss_mb: float
    problems: list[str]
    stderr: str

    def describe(self) -> str:
        tail = "\n    ".join(self.stderr.strip().splitlines()[-6:])
        return (
            f"{self.case.name}: exit {self.exit_code}, {self.seconds:.1f} s: "
            f"{'; '.join(self.problems)}\n    argv: {self.case.argv}\n    {tail}"
        )


def preload() -> None:
    """Import what a run imports, once, so every forked case starts warm."""
    for name in (
        "moebius_video.api",
        "moebius_video.commands.run",
        "moebius_video.commands.batch",
        "moebius_video.commands.hook",
        "moebius_video.batch",
        "yaml",
        "jsonschema",
    ):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the child imports it again and reports the error
            pass


# --- the child ------------------------------------------------------------------------------


def _memory_limit() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024 + MEMORY_HEADROOM
    return 4 * 2**30


def _child(case: Case, log: Path, limit: int) -> None:
    """In the forked child: never returns."""
    code = 1
    try:
        os.setpgid(0, 0)
        os.chdir(case.folder)
        write = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        for fd, name, flags in (
            (0, os.devnull, os.O_RDONLY),
            (1, log / "out", write),
            (2, log / "err", write),
        ):
            target = os.open(name, flags, 0o644)
            os.dup2(target, fd)
            os.close(target)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.alarm(CASE_SECONDS)
        os.environ["TMPDIR"] = str(case.folder / "tmp")
        os.environ["MOEBIUS_VIDEO_MODEL"] = "opencv"
        os.environ["HF_HUB_OFFLINE"] = "1"
        tempfile.tempdir = None
        code = cli.main(list(case.argv))
        code = code if isinstance(code, int) else 1
    except BaseException:  # noqa: BLE001 - escaped the entry point: a bug, shown as one
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code & 0xFF)


# --- snapshots and judging ------------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under folder: its kind, and the sha256 of files (FIFOs are not opened)."""
    entries = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            info = path.lstat()
            rel = str(path.relative_to(folder))
            if stat.S_ISLNK(info.st_mode):
                entries[rel] = "link:" + os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                entries[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                entries[rel] = "dir" if stat.S_ISDIR(info.st_mode) else f"mode:{info.st_mode:o}"
    return entries


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def judge(case: Case, code: int | None, died: str, before: dict, log: Path) -> list[str]:
    problems = [died] if died else []
    stdout = (log / "out").read_text(errors="replace")
    stderr = (log / "err").read_text(errors="replace")
    for word in DIRTY:
        if word in stderr:
            problems.append(f"{word!r} on stderr")
    after = snapshot(case.folder)
    changed = sorted(k for k in before if after.get(k) != before[k])
    if changed:
        problems.append(f"changed or removed: {changed[:5]}")
    added = sorted(set(after) - set(before))
    if code == EXIT_OK and case.expect_error:
        problems.append("exit 0 where an error was due")
    if code == EXIT_OK and case.expect_stderr and case.expect_stderr not in stderr:
        problems.append(f"exit 0 without saying {case.expect_stderr!r}")
    if code == EXIT_OK:
        written = set(case.outputs)
    elif code == EXIT_BATCH_PARTIAL and case.command == "batch":
        written = set(added) & set(case.outputs)
    else:
        written = set()
    if code is not None and code not in CLEAN_EXITS[case.command] | {EXIT_OK}:
        problems.append(f"exit code {code}")
    elif code in (EXIT_USAGE, EXIT_BAD_INPUT) and "moebius-video: error: " not in stderr:
        problems.append("no 'moebius-video: error:' line")
    if set(added) != written:
        problems.append(
            f"left behind: {sorted(set(added) - written)[:5]}"
            if set(added) - written
            else f"missing outputs: {sorted(written - set(added))}"
        )
    for name in sorted(written & set(added)):
        if case.outputs[name] == FOLDER:
            if after[name] != "dir":
                problems.append(f"{name}: not a folder")
            continue
        try:
            frames = frame_count(case.folder / name)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{name}: does not decode: {exc}")
            continue
        want = case.outputs[name]
        if want != ANY_FRAMES and frames != want:
            problems.append(f"{name}: {frames} frames, expected {want}")
    if case.command == "hook" and code is not None:
        problems += _hook_events(stdout, code)
    return problems


def _hook_events(stdout: str, code: int) -> list[str]:
    """The hook's stdout is JSON lines, the last one `done` (exit 0) or `error` (its code)."""
    lines = stdout.strip().splitlines()
    try:
        events = [json.loads(line) for line in lines]
    except ValueError:
        return ["stdout is not JSON lines"]
    if not events:
        return ["no hook event"]
    last = events[-1]
    if code == EXIT_OK and last.get("event") != "done":
        return [f"exit 0 but the last event is {last.get('event')!r}"]
    if code != EXIT_OK and (last.get("event") != "error" or last.get("exit_code") != code):
        return [f"exit {code} but the last event is {last}"]
    return []


# --- running many -----------------------------------------------------------------------------


def run_cases(
    cases: Iterable[Case], jobs: int = JOBS, report: Callable[[Outcome], None] | None = None
) -> list[Outcome]:
    """Run cases `jobs` at a time, each in a forked child; outcomes in the cases' order."""
    preload()
    sys.stdout.flush()
    sys.stderr.flush()
    limit = _memory_limit()
    pending = list(cases)
    results: dict[int, Outcome] = {}
    running: dict[int, tuple[int, Case, dict, Path, float]] = {}
    order = 0
    while pending or running:
        while pending and len(running) < jobs:
            case = pending.pop(0)
            log = Path(tempfile.mkdtemp(prefix="log-", dir=case.folder.parent))
            (case.folder / "tmp").mkdir(exist_ok=True)
            before = snapshot(case.folder)
            pid = os.fork()
            if pid == 0:
                _child(case, log, limit)
            running[pid] = (order, case, before, log, time.monotonic())
            order += 1
        time.sleep(0.002)
        for pid in list(running):
            number, case, before, log, began = running[pid]
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done == 0:
                if time.monotonic() - began < CASE_SECONDS + 10:
                    continue
                os.killpg(pid, signal.SIGKILL)  # the alarm did not stop it
                done, status, usage = os.wait4(pid, 0)
            del running[pid]
            seconds = time.monotonic() - began
            _reap_group(pid)
            code, died = None, ""
            if os.WIFEXITED(status):
                code = os.WEXITSTATUS(status)
            else:
                number_ = os.WTERMSIG(status)
                died = "timed out" if number_ in (signal.SIGALRM, signal.SIGKILL) else ""
                died = died or f"killed by {signal.Signals(number_).name}"
            problems = judge(case, code, died, before, log)
            verdict = "other" if problems else ("correct" if code == EXIT_OK else "clean")
            outcome = Outcome(
                case,
                verdict,
                code,
                seconds,
                usage.ru_maxrss / 1024,
                problems,
                (log / "err").read_text(errors="replace"),
            )
            results[number] = outcome
            if report is not None:
                report(outcome)
    return [results[k] for k in sorted(results)]


def _reap_group(pgid: int) -> None:
    """Anything the case started in its process group (an FFmpeg helper, a Ray node) goes."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def counts(outcomes: Iterable[Outcome]) -> dict[str, dict[str, int]]:
    """family -> {tried, clean, correct, other}, plus a "total" row."""
    table: dict[str, dict[str, int]] = {}
    for outcome in outcomes:
        for row in (outcome.case.family, "total"):
            cells = table.setdefault(row, {"tried": 0, "clean": 0, "correct": 0, "other": 0})
            cells["tried"] += 1
            cells[outcome.verdict] += 1
    if "total" in table:
        table["total"] = table.pop("total")
    return table


def counts_table(table: dict[str, dict[str, int]], seconds: float | None = None) -> str:
    lines = [f"{'family':14} {'tried':>6} {'clean error':>12} {'correct':>8} {'other':>6}"]
    for row, cells in table.items():
        lines.append(
            f"{row:14} {cells['tried']:>6} {cells['clean']:>12} "
            f"{cells['correct']:>8} {cells['other']:>6}"
        )
    if seconds is not None:
        lines.append(f"({seconds:.1f} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every family (or those named) in a fresh temporary folder; print the table."""
    import argparse

    from fuzz_cases import FAMILIES, Workspace

    parser = argparse.ArgumentParser(description="Run the fuzz cases; print the counts.")
    parser.add_argument("families", nargs="*", choices=[[], *FAMILIES], metavar="FAMILY")
    parser.add_argument("-k", metavar="TEXT", help="only the cases whose name holds TEXT")
    parser.add_argument("-v", action="store_true", help="a line for every case")
    args = parser.parse_args(argv)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="moebius-fuzz-") as root:
        workspace = Workspace(Path(root))
        cases = [case for name in args.families or FAMILIES for case in FAMILIES[name](workspace)]
        cases = [case for case in cases if args.k is None or args.k in case.name]
        outcomes = run_cases(cases, report=_print_verbose if args.v else None)
    for outcome in outcomes:
        if outcome.verdict == "other":
            print(outcome.describe())
    slowest = max(outcomes, key=lambda o: o.seconds)
    biggest = max(outcomes, key=lambda o: o.max_rss_mb)
    print(counts_table(counts(outcomes), time.monotonic() - began))
    print(f"slowest case {slowest.case.name}: {slowest.seconds:.2f} s")
    print(f"largest case {biggest.case.name}: {biggest.max_rss_mb:.0f} MB peak RSS")
    return 1 if any(o.verdict == "other" for o in outcomes) else 0


def _print_verbose(outcome: Outcome) -> None:
    print(
        f"{outcome.verdict:8} exit {outcome.exit_code} {outcome.seconds:5.2f} s "
        f"{outcome.max_rss_mb:5.0f} MB  {outcome.case.name}",
        flush=True,
    )
    if outcome.verdict == "other":
        print(outcome.stderr[-3000:])


if __name__ == "__main__":
    import fuzz_harness  # the module the cases import, not a second copy of it as __main__

    sys.exit(fuzz_harness.main())
