"""Launch a script under ``torchrun`` from a test: a free rendezvous port, per-rank logs, every rank's own error in the
failure message, and nothing left running after a timeout.

* ``--standalone``: torchrun's local rendezvous on a free port (no fixed port to collide with another job).
* ``--log-dir`` + ``--redirects 3``: each rank's stdout / stderr in its own file; on failure the message holds
  torchrun's summary (its "Root Cause" names the first failing rank, with its traceback when the script's entry point
  is decorated with ``torch.distributed.elastic.multiprocessing.errors.record``) and the tail of every rank's stderr.
* Scripts end with `finish`: the process group is destroyed and the process leaves with ``os._exit``, skipping the
  C++ static destructors that, at interpreter exit, sometimes abort a rank (``terminate called without an active
  exception``, SIGABRT) after all its work was done and written: the flake these tests used to show under load.
* A hung run is ended: ``SIGTERM`` to torchrun (which ends its workers), then ``SIGKILL`` to torchrun and to every
  process of this launch (recognised by a per-launch marker in its environment; workers run in their own sessions).
  Scripts also arm `arm_watchdog`, which dumps a hung rank's Python stacks into its stderr log and exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

_MARKER = "TRL_EXPLORE_TEST_LAUNCH"
REPO = Path(__file__).resolve().parents[1]


class LaunchError(AssertionError):
    """A torchrun launch failed or timed out; the message holds every rank's error."""


def _launch_pids(marker: str) -> list[int]:
    """Processes whose environment carries this launch's marker (Linux ``/proc``; empty elsewhere)."""
    pids = []
    needle = f"{_MARKER}={marker}".encode()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
    return [pid for pid in pids if pid != os.getpid()]


def _rank_logs(log_dir: Path, tail: int = 4000) -> str:
    parts = []
    for stderr in sorted(log_dir.glob("*/attempt_*/*/stderr.log")):
        # faulthandler's list of loaded extension modules (printed on a fatal signal) is noise here
        lines = [line for line in stderr.read_text(errors="replace").splitlines() if "Extension modules:" not in line]
        text = "\n".join(lines)
        rank = stderr.parent.name
        parts.append(f"----- rank {rank} stderr (last {tail} chars) -----\n{text[-tail:]}")
    return "\n".join(parts) or "(no per-rank logs were written)"


def torchrun(
    script: Path | str, *args: str, nproc: int = 2, timeout: float = 900, log_dir: Path, pythonpath: tuple = ()
) -> str:
    """Run ``script args...`` on ``nproc`` CPU processes (gloo); returns torchrun's output. Raises `LaunchError` with
    every rank's error on a non-zero exit or after ``timeout`` seconds. ``pythonpath``: directories searched before
    the repository (e.g. a modified copy of the package)."""
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    marker = uuid.uuid4().hex
    env = {
        **os.environ,
        _MARKER: marker,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "WANDB_DISABLED": "true",
        "TOKENIZERS_PARALLELISM": "false",
        "TRL_EXPERIMENTAL_SILENCE": "1",
        "PYTHONPATH": os.pathsep.join(
            [*map(str, pythonpath), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        # a hung rank dumps its stacks and exits before the launch's own timeout
        "TRL_EXPLORE_RANK_TIMEOUT": str(max(30, int(timeout) - 60)),
    }
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
        "--log-dir", str(log_dir), "--redirects", "3", str(script), *map(str, args),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # torchrun ends its workers
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        for pid in _launch_pids(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        raise LaunchError(
            f"torchrun timed out after {timeout:.0f}s: {' '.join(cmd)}\n{output[-4000:]}\n{_rank_logs(log_dir)}"
        ) from None
    finally:
        deadline = time.monotonic() + 10
        while _launch_pids(marker) and time.monotonic() < deadline:  # workers exit right after torchrun
            time.sleep(0.2)
    if proc.returncode != 0:
        summary = output[output.find("Root Cause") :] if "Root Cause" in output else output[-4000:]
        raise LaunchError(
            f"torchrun exited with {proc.returncode}: {' '.join(cmd)}\n{summary[-6000:]}\n{_rank_logs(log_dir)}"
        )
    return output


def arm_watchdog() -> None:
    """In a launched script: after ``TRL_EXPLORE_RANK_TIMEOUT`` seconds, dump every thread's stack to stderr (the
    rank's log) and exit, so that a rank stuck in a collective reports where it hangs."""
    import faulthandler

    seconds = int(os.environ.get("TRL_EXPLORE_RANK_TIMEOUT", "0"))
    if seconds > 0:
        faulthandler.dump_traceback_later(seconds, exit=True)


def finish(code: int = 0) -> None:
    """In a launched script, after its results are written: cancel the watchdog, leave the process group (a barrier
    first, so that no rank tears down a collective another one still runs), flush, and exit with ``code`` without
    running the interpreter's and the C++ runtime's exit-time destructors."""
    import faulthandler
    import logging

    faulthandler.cancel_dump_traceback_later()
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
