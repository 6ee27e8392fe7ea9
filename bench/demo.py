"""Time `make demo`'s job: ``edgegru pipeline -o OUT`` on the built-in default, from nothing.

    python -m bench.demo

Runs the pipeline into a fresh folder (no stage skipped), with the emulated Pi 4 and Pi 5 when
their userland is built, and writes bench/results/demo.json: the wall-clock seconds in all,
each stage's seconds (from the run's results.json), the targets checked, the machine's load
average before and after (the machine is shared: a loaded one is slower), and the report's
latency rows of the float files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.timing import write_results


def main(argv: list[str] | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="edgegru-bench-demo-") as tmp:
        out = Path(tmp) / "demo"
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "edgegru", "pipeline", "-o", str(out)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        seconds = time.perf_counter() - t0
        load_after = os.getloadavg()
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            return proc.returncode
        results = json.loads((out / "results.json").read_text())
    stages = {name: s.get("seconds") for name, s in results["stages"].items()}
    checks = [c for a in results["artifacts"] for c in a["checks"]]
    latency = [
        {"file": a["file"], "target": c["target"], "window_invoke_p50_us": c.get("p50_us"),
         "call_p50_us": ((c.get("latency_us") or {}).get("call") or {}).get("p50")}
        for a in results["artifacts"] for c in a["checks"]
        if not c.get("emulated") and a["precision"] == "float32"
    ]  # fmt: skip
    data = {
        "seconds": seconds, "stages": stages, "targets": sorted({c["target"] for c in checks}),
        "artifacts": len(results["artifacts"]), "load_before": load_before,
        "load_after": load_after, "cores": os.cpu_count(), "latency": latency,
    }  # fmt: skip
    path = write_results("demo", data)
    print(f"pipeline {seconds:.0f} s: " + ", ".join(f"{k} {v:.0f} s" for k, v in stages.items()
                                                    if v is not None))  # fmt: skip
    print(f"targets: {', '.join(data['targets'])}; load {load_before[0]:.1f} -> "
          f"{load_after[0]:.1f} on {os.cpu_count()} cores -> {path}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
