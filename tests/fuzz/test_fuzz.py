"""The fuzz suite, as a test: every seeded case ends in a clean error or a correct result.

The harness runs in a fresh interpreter, so each case forks from a parent that imported
only what a CLI run imports (not pytest's torch and Ray), under its own memory limit.
`python tests/fuzz/fuzz_harness.py -v` runs it by hand, a line per case.
"""

import re
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).with_name("fuzz_harness.py")


def test_every_fuzz_case_is_a_clean_error_or_a_correct_result():
    run = subprocess.run(
        [sys.executable, str(HARNESS)], capture_output=True, text=True, timeout=600
    )
    print(run.stdout[-20000:], run.stderr[-5000:])
    rows = {
        match["family"]: [int(match[k]) for k in ("tried", "clean", "correct", "other")]
        for match in re.finditer(
            r"^(?P<family>\w+)\s+(?P<tried>\d+)\s+(?P<clean>\d+)\s+(?P<correct>\d+)\s+"
            r"(?P<other>\d+)$",
            run.stdout,
            re.MULTILINE,
        )
    }
    assert set(rows) == {"mask_tracks", "job_files", "hook_requests", "media", "total"}
    tried, clean, correct, other = rows["total"]
    assert other == 0 and run.returncode == 0, "cases that were neither, above"
    assert tried >= 300 and clean + correct == tried
    # Each family has both kinds: a suite where everything fails (or passes) tests nothing.
    for family, (_, clean, correct, _) in rows.items():
        assert clean > 0 and correct > 0, family
