"""One run at a time: while one process works on a home, every other writer — `sihub
refresh`, `revalidate`, `purge`, `release`, `sar --erase`, a run the Dagster daemon launches — is
refused at once, naming the one running, and leaves it untouched; a lock left by a killed
process is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipelines.refresh import run_refresh
from sihub.core.paths import HubPaths
from sihub.core.run_lock import run_lock

SIHUB = str(Path(sys.executable).parent / "sihub")
HOLD = """
import sys, time
from pathlib import Path
from sihub.core.paths import HubPaths
from sihub.core.run_lock import run_lock
with run_lock(HubPaths(Path(sys.argv[1])), "a long refresh"):
    print("held", flush=True)
    time.sleep(600)
"""


def env_for(home: Path) -> dict[str, str]:
    env = {**os.environ, "SIHUB_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    return env


def holder(home: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(home)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_writer_is_refused_naming_the_first(tmp_path: Path) -> None:
    copy = tmp_path / "home"  # refused before any work: the home's contents do not matter
    first = holder(copy)
    try:
        for args in (
            ["refresh"],
            ["purge"],
            ["revalidate", "police/missing_episodes"],
            ["release", "police/missing_episodes", "--yes"],
        ):
            started = time.monotonic()
            result = subprocess.run([SIHUB, *args], env=env_for(copy), capture_output=True, text=True, timeout=120)
            assert result.returncode != 0, args
            assert f"process {first.pid}" in result.stderr and "a long refresh" in result.stderr, result.stderr
            assert time.monotonic() - started < 30, args  # refused at once, not after waiting
        outcome = run_refresh(copy)  # as a daemon-launched run would go
        assert not outcome.success and f"process {first.pid}" in outcome.reason
        assert first.poll() is None  # the running one is untouched
    finally:
        first.kill()
        first.wait()


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    copy = tmp_path / "home"
    first = holder(copy)
    first.send_signal(signal.SIGKILL)
    first.wait()
    lock = json.loads((copy / "run.lock").read_text())
    assert lock["pid"] == first.pid  # what it left behind
    with run_lock(HubPaths(copy), "the next refresh"):  # taken at once
        assert json.loads((copy / "run.lock").read_text())["pid"] == os.getpid()


JOIN = """
import sys, time
from pathlib import Path
from sihub.core.paths import HubPaths
from sihub.core.run_lock import RunLocked, run_lock, store_turn
try:
    with run_lock(HubPaths(Path(sys.argv[1])), "a step", sys.argv[2] or None):
        print("joined", flush=True)
        with store_turn():
            print(f"turn {time.time()}", flush=True)
            time.sleep(float(sys.argv[3]))
            print(f"done {time.time()}", flush=True)
except RunLocked as err:
    print(f"refused: {err}", flush=True)
"""


def step(home: Path, run_id: str, hold_s: float = 0.0) -> subprocess.Popen:
    """A process of a Dagster run: takes the run lock with its run id, then a turn on the stores."""
    return subprocess.Popen(
        [sys.executable, "-c", JOIN, str(home), run_id, str(hold_s)], stdout=subprocess.PIPE, text=True
    )


def test_the_processes_of_one_run_share_the_lock_and_take_turns_on_the_stores(tmp_path: Path) -> None:
    copy = tmp_path / "home"
    first = step(copy, "run-1", hold_s=8)
    second = None
    try:
        assert first.stdout.readline().strip() == "joined"
        turn_1 = float(first.stdout.readline().split()[1])
        second = step(copy, "run-1")  # another step of the same run: joins, then waits for its turn
        assert second.stdout.readline().strip() == "joined"
        other_run = subprocess.run(
            [sys.executable, "-c", JOIN, str(copy), "run-2", "0"], capture_output=True, text=True
        )
        assert other_run.stdout.startswith("refused") and f"process {first.pid}" in other_run.stdout, other_run.stdout
        command = subprocess.run([SIHUB, "purge"], env=env_for(copy), capture_output=True, text=True, timeout=120)
        assert command.returncode != 0 and "run run-1" in command.stderr, command.stderr  # a command is refused too
        done_1 = float(first.stdout.readline().split()[1])
        turn_2 = float(second.stdout.readline().split()[1])
        assert turn_1 < done_1 <= turn_2  # never two processes on the stores at once
    finally:
        for process in (first, second):
            if process:
                process.kill()
                process.wait()
