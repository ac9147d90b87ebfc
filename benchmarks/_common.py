"""Shared helpers for benchmark scripts: tidy CSV rows, peak-memory and timing measurement."""

from __future__ import annotations

import csv
import datetime as _dt
import gc
import json
import os
import platform
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

FIELDS = ["name", "metric", "unit", "value", "baseline_value", "ratio", "config", "machine", "timestamp", "version"]
DEFAULT_CSV = Path(__file__).resolve().parent / "results.csv"


def machine_description() -> str:
    """A short description of the machine the numbers come from (CPU model / GPU name, cores)."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
        threads = torch.get_num_threads()
    except ImportError:
        threads = os.cpu_count()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch threads={threads}"


def make_row(
    name: str, metric: str, unit: str, value: float, baseline_value: float | None, config: dict[str, Any]
) -> dict[str, Any]:
    """One tidy row; ``ratio = value / baseline_value`` (empty when there is no baseline)."""
    from trl_explore import __version__

    ratio = value / baseline_value if baseline_value not in (None, 0) else None
    return {
        "name": name,
        "metric": metric,
        "unit": unit,
        "value": value,
        "baseline_value": "" if baseline_value is None else baseline_value,
        "ratio": "" if ratio is None else round(ratio, 4),
        "config": json.dumps(config, sort_keys=True),
        "machine": machine_description(),
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "version": __version__,
    }


def append_rows(rows: Iterable[dict[str, Any]], path: str | os.PathLike | None = None) -> Path:
    """Append rows to a CSV file (header written when the file is new). Returns the path."""
    path = Path(path or os.environ.get("TRL_EXPLORE_BENCH_CSV", DEFAULT_CSV))
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in FIELDS})
    return path


def time_fn(
    fn: Callable[[], Any], *, warmup: int = 1, repeats: int = 3, sync: Callable[[], None] | None = None
) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if sync:
            sync()
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def peak_memory_bytes(fn: Callable[[], Any]) -> int:
    """Peak memory that ``fn()`` allocates above what was live before it.

    On CUDA this is ``torch.cuda.max_memory_allocated``. On CPU torch's allocator is the system one, so the peak is
    replayed from the profiler's raw allocation records (``[memory]`` events: one per allocation or free, with its
    timestamp) in time order. (Per-op *self* memory would book the frees made inside a custom ``autograd.Function`` at
    the start of its event and under-report fused kernels.)
    """
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    records = sorted(
        (e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"
    )
    current = peak = 0
    for _, nbytes in records:
        current += nbytes
        peak = max(peak, current)
    return peak
