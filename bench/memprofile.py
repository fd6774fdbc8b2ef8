"""Where a client's memory sits: PSS and its private (anonymous) part per process kind.

Read from ``/proc/<pid>/smaps_rollup``: ``Pss`` (shared pages split between their sharers) and
``Pss_Anon`` (heap, stacks, JS heaps: what each further client adds, whatever the count), so
file-backed text, which is shared by every client on the machine, shows apart.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict

import psutil

MB = 1024 * 1024


def rollup(pid: int) -> dict[str, float]:
    """MB per ``smaps_rollup`` field (``Pss``, ``Pss_Anon``, ``Pss_File``, ...); {} if gone."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, *rest = line.split()
            if key.endswith(":") and len(rest) == 2 and rest[1] == "kB":
                out[key[:-1]] = int(rest[0]) / 1024
    return out


def kind(proc: psutil.Process) -> str:
    """worker, driver, or Chromium's process type (browser, zygote, renderer, gpu-process,
    utility:<service>)."""
    with contextlib.suppress(psutil.Error):
        if "node" in proc.name():
            return "driver"
        cmd = proc.cmdline()
        types = [a.split("=", 1)[1] for a in cmd if a.startswith("--type=")]
        if not types:
            return "worker" if "python" in proc.name() else "browser"
        sub = [a.split("=", 1)[1] for a in cmd if a.startswith("--utility-sub-type=")]
        return types[0] + (f":{sub[0].split('.')[0]}" if sub else "")
    return "gone"


def client_profile(*roots: int) -> dict[str, dict[str, float]]:
    """Per process kind of one client's trees (wamc: its worker; the baseline: its driver and
    its browser): count, Pss and Pss_Anon (MB), summed."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: {"n": 0, "pss": 0.0, "anon": 0.0})
    procs: dict[int, psutil.Process] = {}
    for pid in roots:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            procs.update({p.pid: p for p in [root, *root.children(recursive=True)]})
    for proc in procs.values():
        r = rollup(proc.pid)
        if r:
            k = kind(proc)
            out[k]["n"] += 1
            out[k]["pss"] += r.get("Pss", 0.0)
            out[k]["anon"] += r.get("Pss_Anon", 0.0)
    return dict(out)


def mean_profile(profiles: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    kinds = sorted({k for p in profiles for k in p})
    return {
        k: {
            f: sum(p.get(k, {}).get(f, 0.0) for p in profiles) / len(profiles)
            for f in ("n", "pss", "anon")
        }
        for k in kinds
    }


def profile_table(rows: list[tuple[str, dict[str, dict[str, float]]]]) -> str:
    """A markdown table: one column pair (PSS, private) per measured side."""
    kinds = sorted({k for _, p in rows for k in p}, key=lambda k: (k != "worker", k != "driver", k))
    head = ["process (per client)"] + [f"{name}: PSS / private MB" for name, _ in rows]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in kinds:
        cells = []
        for _, p in rows:
            v = p.get(k)
            cells.append(f"{v['pss']:.1f} / {v['anon']:.1f} (×{v['n']:g})" if v else "—")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    totals = [
        f"{sum(v['pss'] for v in p.values()):.1f} / {sum(v['anon'] for v in p.values()):.1f}"
        for _, p in rows
    ]
    lines.append("| **total** | " + " | ".join(totals) + " |")
    return "\n".join(lines)
