"""The check stage's wall time: one runner launch per file (before) against one runner session
per target with the emulated targets side by side (now), on the same files in one run.

    python -m bench.check_sessions [--targets local,qemu-aarch64:pi4,qemu-aarch64:pi5]

Files: the demo's model shape (GRU-32, 6 features, T = 100, 7 classes; random weights) exported
as the demo exports a float and a dynamic-int8 bundle: ONNX, ORT and TFLite, sequence and step
(12 files). Rows and run counts as the pipeline's check stage uses them: 1,484 rows, 200 runs on
local; 64 rows, 5 runs and one timed window on the emulated Pis. "before" runs each file in its
own runner process, target after target (what the check stage did); "now" is
``targets.session.run_concurrently`` over ``run_many``. Writes
bench/results/check_sessions.json.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.timing import write_results

F, T, CLASSES, HIDDEN = 6, 100, 7, 32


def make_files(folder: Path) -> list[Path]:
    from edgegru.export import ExportConfig, export
    from edgegru.quantize import quantize_
    from edgegru.quantize.config import QuantizeConfig
    from edgegru.reference import random_weights
    from edgegru.types import Bundle, ModelSpec

    spec = ModelSpec("gru", F, HIDDEN, CLASSES, labels=tuple(f"c{i}" for i in range(CLASSES)))
    files = []
    for sub, quant in (("float", None), ("dynamic", "dynamic")):
        bundle = Bundle(spec, random_weights(spec, seed=0, scale=0.3), {"seq_len": T})
        if quant:
            bundle = quantize_(bundle, QuantizeConfig(scheme=quant))
        cfg = ExportConfig(formats=("onnx", "ort", "tflite"))
        files += [Path(a.path) for a in export(bundle, cfg, folder / sub)]
    return files


def main(argv: list[str] | None = None) -> int:
    from edgegru.targets import make_target
    from edgegru.targets.config import RunConfig
    from edgegru.targets.session import run_concurrently

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default="local,qemu-aarch64:pi4,qemu-aarch64:pi5")
    args = p.parse_args(argv)
    targets = args.targets.split(",")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="edgegru-bench-check-") as tmp:
        folder = Path(tmp)
        files = make_files(folder)
        jobs = [(f, Path(str(f) + ".json")) for f in files]
        plans = {}
        for t in targets:
            emulated = t.startswith("qemu")
            n = 64 if emulated else 1484
            data = folder / f"data-{n}.npz"
            if not data.exists():
                np.savez(data, X=rng.standard_normal((n, T, F)).astype(np.float32))
            cfg = RunConfig(warmup=2 if emulated else 20, runs=5 if emulated else 200,
                            windows=1 if emulated else 0)  # fmt: skip
            plans[t] = (emulated, data, cfg)

        def before() -> None:
            for t, (_, data, cfg) in plans.items():
                with make_target(t) as target:
                    for model, manifest in jobs:
                        target.run(model, manifest, data, cfg)

        def now() -> None:
            def one(t: str) -> None:
                _, data, cfg = plans[t]
                with make_target(t) as target:
                    for r in target.run_many(jobs, data, cfg):
                        if isinstance(r, Exception):
                            raise r

            run_concurrently([(plans[t][0], functools.partial(one, t)) for t in targets])

        seconds = {}
        load = {}
        for name, fn in (("now", now), ("before", before)):
            load[name] = os.getloadavg()[0]
            t0 = time.perf_counter()
            fn()
            seconds[name] = time.perf_counter() - t0
    out = {"targets": targets, "files": len(files), "seconds": seconds,
           "speedup": seconds["before"] / seconds["now"], "load_at_start": load,
           "cores": os.cpu_count()}  # fmt: skip
    path = write_results("check_sessions", out)
    print(f"{len(files)} files on {', '.join(targets)}: before {seconds['before']:.0f} s, "
          f"now {seconds['now']:.0f} s ({out['speedup']:.1f}x) -> {path}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
