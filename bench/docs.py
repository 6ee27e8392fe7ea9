"""``python -m bench.docs``: render docs/performance.md from bench/results/*.json.

Every number in docs/performance.md comes from a results file that a bench script wrote; the
page is never edited by hand. ``python -m bench`` re-renders it after a full run, and
``python -m bench.docs --check`` exits 1 when the page differs from what the results give
(tests/test_docs.py runs that check). The tables are the bench scripts' own ``markdown`` /
``table`` functions, so the page and a script's printout cannot disagree. The README's few
lines that quote a result (``README_LINES``) are rendered in place the same way.

    python -m bench.docs            # write docs/performance.md
    python -m bench.docs --check    # exit 1 if docs/performance.md is stale
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    onnx,
    onnx_int8,
    sweep,
    tflite,
    tflite_int8,
    tflite_lstm_int8,
    tflite_micro,
    tflite_micro_lstm_int8,
)
from bench.timing import RESULTS

PAGE = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
README = PAGE.parent.parent / "README.md"
# README lines that quote a results file: (results file, the line's opening words, renderer).
# The README is short and hand-written; these lines alone are generated, in place.
README_LINES = [
    ("sweep", "Ray's cost (`python -m bench.sweep`", sweep.readme_line),
    ("sweep_watch", "holds GRU-", sweep.readme_watch_line),
    ("tflite_micro", "  Micro's interpreter: op check,", tflite_micro.readme_line),
]
Results = dict[str, Any]


def _workloads(d: Results, table: Callable[[str, dict], str]) -> list[str]:
    """Each workload's table, then its verdicts (ratios against peers, and targets where set)."""
    out: list[str] = []
    for name, w in d["workloads"].items():
        out += [table(name, w), ""]
        if w.get("verdicts"):
            out += [_verdicts(w["verdicts"]), ""]
    return out


def _verdicts(v: dict[str, dict[str, Any]]) -> str:
    rows = ["| comparison | measured | target | met |", "|---|---|---|---|"]
    for key, e in v.items():
        if not isinstance(e, dict):
            continue
        value = next((e[k] for k in ("ratio", "us", "bytes") if k in e), None)
        unit = {"ratio": "x", "us": " us", "bytes": " B"}.get(
            next((k for k in ("ratio", "us", "bytes") if k in e), ""), ""
        )
        shown = "-" if value is None else (f"{value:.2f}{unit}" if unit != " B" else f"{value} B")
        target = e.get("target")
        met = {True: "yes", False: "no", None: "-"}[e.get("ok")]
        rows.append(f"| {key.replace('_', ' ')} | {shown} | {'-' if target is None else target} "
                    f"| {met} |")  # fmt: skip
    return "\n".join(rows)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _compress(d: Results) -> list[str]:
    rows = [
        "| method | H | parameters | float32 bytes | int8 bytes | float accuracy (per seed) "
        "| mean | int8 accuracy (per seed) | mean |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in d["summary"]:
        int8 = [a for a in s["int8_accuracies"] if a is not None]
        rows.append(
            f"| {s['method']} | {s['hidden']} | {s['parameters']:,} | {s['float32_bytes']:,} "
            f"| {s['int8_bytes']:,} | {' / '.join(f'{a:.3f}' for a in s['accuracies'])} "
            f"| {s['accuracy_mean']:.3f} | {' / '.join(f'{a:.3f}' for a in int8) or '-'} "
            f"| {_fmt(s['int8_accuracy_mean'])} |"
        )
    rows += ["", "| budget | rule | holds | met by |", "|---|---|---|---|"]
    for key, c in d["checks"].items():
        met = ", ".join(f"{m} H={h}" for m, h in c["meeting"]) or "-"
        rows.append(f"| {key} | {c['rule']} | {'yes' if c['holds'] else 'no'} | {met} |")
    return ["\n".join(rows), "", "![size vs accuracy of the students](compression.png)", ""]


def _workload_p(results: Path) -> list[str]:
    """The shared benchmark workload, described from the parameters the ONNX bench recorded."""
    path = results / "onnx.json"
    if not path.is_file():
        return []
    d = json.loads(path.read_text())
    w, shapes = (
        d["workload"],
        sorted(
            {(r["workload"], r["hidden"], r["layers"]) for r in d["results"]}, key=lambda s: s[1:]
        ),
    )
    sizes = "; ".join(f'"{n}": H = {h}, {k} layer{"s" if k > 1 else ""}' for n, h, k in shapes)
    return [
        "## Workload P",
        "",
        f"The latency benchmarks share one workload: a classifier with input {w['input']} -> "
        f"hidden H, T = {w['T']} steps, the head on the last step, a Linear layer -> "
        f"{w['classes']} classes; batch {w['batch']}, {w['threads']} thread; random weights. "
        f"{sizes}. Cells: GRU, LSTM and the peephole LSTM.",
        "",
    ]


def _workload_line(d: Results) -> str:
    w = d.get("workload")
    if not isinstance(w, dict):
        return ""
    return " Workload: " + ", ".join(f"{k} = {v}" for k, v in w.items()) + "."


# (results name, title, command, what it measures (no numbers: those come from the file), render)
SECTIONS: list[tuple[str, str, str, str, Callable[[Results], list[str]]]] = [
    ("onnx", "ONNX float", "python -m bench.onnx",
     "edgegru's ONNX file (one fused GRU / LSTM node per layer) in ONNX Runtime against "
     "`torch.onnx.export` of the equivalent PyTorch model and against PyTorch eager; all "
     "paths share the weights and are timed interleaved in one process. The ratios are "
     "edgegru's time over the peer's (< 1: edgegru is faster). PyTorch has no peephole LSTM: "
     "its peer is edgegru's own PyTorch model traced (the loop unrolls over T).",
     lambda d: [onnx.markdown(d["results"]), ""]),
    ("onnx_int8", "ONNX int8", "python -m bench.onnx_int8",
     "int8 weights with DequantizeLinear in front of the fused op (`qdq`), the same file with "
     "ONNX Runtime's `session.disable_quant_qdq=1` (`qdq-folded`, the setting the manifest "
     "names), ONNX Runtime's int8 LSTM kernel (`ort-int8-kernel`) and ONNX Runtime's own "
     "`quantize_dynamic` of edgegru's float file as the peer.",
     lambda d: [onnx_int8.markdown(d["results"]), ""]),
    ("tflite", "TFLite GRU float",
     "python -m bench.tflite",
     "edgegru's float GRU files (`loop`: a WHILE loop; `unrolled`: T copies of the step; the "
     "streaming step) under LiteRT's `Interpreter` and `CompiledModel` + XNNPACK weight cache, "
     "against ONNX Runtime on edgegru's ONNX file and against Keras 2 / litert-torch files "
     "converted in their own venv. \"warm\": each path called several times back to back and "
     "the last call timed; \"cold\": every call follows another model's. The loop keeps "
     "few operators hot and suits large models; the unrolled layout needs `CompiledModel` "
     "(the `Interpreter` repacks the recurrent weights every step) and its runtime state grows "
     "with T and the layers. Per step the GRU is a dozen XNNPACK operators, each paying a "
     "fixed dispatch cost: at small H that is why it only ties ONNX Runtime's fused kernel.",
     lambda d: _workloads(d, tflite.table)),
    ("tflite_int8", "TFLite GRU int8",
     "python -m bench.tflite_int8",
     "`int8` is the full-integer file (int8-static), `dynint8` the hybrid one (int8 weights, "
     "float activations). Random weights, scales calibrated on random-normal input. \"LSB vs "
     "NumPy int8\" compares the file's output with `edgegru.quantize.reference` (0: bit-exact).",
     lambda d: _workloads(d, tflite_int8.table)),
    ("tflite_lstm", "TFLite LSTM float",
     "python -m bench.tflite_lstm",
     "One UNIDIRECTIONAL_SEQUENCE_LSTM per layer. `CompiledModel` does not load the fused op's "
     "variable tensors (the error rows say so): these files run under the `Interpreter`.",
     lambda d: _workloads(d, tflite.table)),
    ("tflite_lstm_int8", "TFLite LSTM int8",
     "python -m bench.tflite_lstm_int8",
     "The same fused LSTM in three precisions, under the `Interpreter` with its default XNNPACK "
     "delegate and with TFLite's builtin kernels only. \"x float\" is the time over the float "
     "file's; \"LSB vs NumPy\" compares with `edgegru.quantize.lstm_reference`. On x86 the "
     "integer kernel's int8 x int8 -> int16 matrix-vector products are portable scalar loops "
     "(the SSE tensor utils forward them to the portable code) while the float and hybrid "
     "kernels use optimized GEMVs: the hybrid file is the one to ship unless the target must "
     "run integer-only.",
     lambda d: _workloads(d, tflite_lstm_int8.table)),
    ("tflite_micro", "TFLite Micro", "python -m bench.tflite_micro --runs 200 --goal BUNDLE",
     "The float LSTM and peephole LSTM sequence files in three layouts: `fused` (one "
     "UNIDIRECTIONAL_SEQUENCE_LSTM), `lowered` (a WHILE loop of builtin ops) and `unrolled`, "
     "under LiteRT (warm medians) with TFLite Micro's arena for each file (the smallest it "
     "allocates in; TFLite Micro's LSTM kernel takes no peepholes). Then a static-quantized GRU "
     "(`--goal`: the compression recipe's GRU-29, see "
     "[microcontrollers.md](microcontrollers.md)) as int8 files on TFLite Micro.",
     lambda d: [*_workloads(d, tflite_micro.table),
                *([tflite_micro.goal_table(d["goal"]), ""] if "goal" in d else [])]),
    ("tflite_micro_lstm_int8", "TFLite Micro: int8 LSTM lowered to builtin ops",
     "python -m bench.tflite_micro_lstm_int8 --runs 200",
     "An LSTM-16 and a peephole-16 trained on each dataset (seed 0, training defaults), "
     "static-quantized with the defaults, exported int8-static with `--option layout=lowered` "
     "(sequence: a WHILE loop, with the `lengths` input on variable-length data; step) and run "
     "on the `tflm` target over the whole test split: arena, flash, accuracy next to the float "
     "model's and the fused integer LSTM's (NumPy reference), and the windows bit-exact with "
     "the NumPy reference of the lowered graph in TFLite Micro arithmetic. Then workload P's "
     "shape (random weights, calibrated on random-normal input): the fused int8 file vs the "
     "lowered ones under LiteRT's Interpreter (XNNPACK) and its builtin kernels; \"LSB vs "
     "NumPy\" against the reference in that runtime's arithmetic.",
     lambda d: [tflite_micro_lstm_int8.dataset_table(d["datasets"]), "",
                "The lowered file's accuracy (NumPy reference in TFLite Micro arithmetic, the "
                "test split) with the int8 cell state's range as calibrated and clipped to each "
                "candidate limit, and the one calibration chose by the outputs on its sample:", "",
                tflite_micro_lstm_int8.cell_limit_table(d["datasets"]), "",
                *_workloads(d, tflite_micro_lstm_int8.table)]),
    ("compress", "Compression",
     "python -m bench.compress --seeds 0,1,2 && python -m bench.compress --collect",
     "GRU students of a GRU-128 teacher on `watch` (held-out subjects 8-10), per seed: trained "
     "from the labels (`labels`) or distilled to round(1.1 H) units and pruned to H "
     "(`distill-prune`, the recipe of [compression.md](compression.md)). \"int8\" is "
     "full-integer PTQ with the `static` defaults, scored by the NumPy int8 reference in "
     "XNNPACK's arithmetic (what LiteRT computes). It trains dozens of models: run it alone.",
     _compress),
    ("sweep", "Sweeps: the cost of Ray Tune", "python -m bench.sweep --reps 4",
     "The same 8-trial `edgegru sweep` (basicmotions, GRU H in {8, 12, 16, 20} x 2 seeds, "
     "int8-static, checked on this machine; no stage shared) as a plain loop of pipelines in "
     "one process and on in-process Ray with one and two trials at a time, each run a fresh "
     "process, the kinds interleaved (loop, 1, 2, 2, 1, loop) and averaged. Scaling efficiency "
     "= 1-worker wall / (2 x 2-worker wall); overhead = (1-worker wall - loop wall) / trials. "
     "CPU seconds are sampled from /proc per role: the trials (the loop's process, or the trial "
     "workers with their check processes), Tune's driver, Ray's daemons. Other jobs on the same "
     "cores move every wall time here; the CPU times move less.",
     sweep.markdown_cost),
    ("sweep_watch", "Sweeps: GRU sizes on watch", "python -m bench.sweep --watch",
     "`bench/sweep_watch.toml`: GRU H in {16, 24, 29, 32}, each as the int8-static and the "
     "float TFLite file, checked on this machine (the whole test split); one seed, ranked on "
     "the test split. The fronts are accuracy vs file size and vs median latency per window.",
     sweep.markdown_watch),
]  # fmt: skip


def render(results: Path = RESULTS) -> str:
    parts = [
        "# Performance",
        "",
        "<!-- Generated by `python -m bench.docs` from bench/results/*.json: do not edit. -->",
        "",
        "Every number on this page was measured by a script in `bench/` and read from the "
        "JSON it wrote into `bench/results/`. `make bench` (`python -m bench`) re-runs the "
        "latency benchmarks and re-renders this page; `python -m bench.docs` re-renders it "
        "from the results alone.",
        "",
        "How to read it: latency is the median in microseconds of one call at batch 1 on one "
        "thread, every path of a table timed interleaved in one process (shuffled order, after "
        "warm-up). The machine is shared and noisy: compare ratios within one table, never "
        "absolute numbers between tables or runs.",
        "",
        "Your own model on your own device: `edgegru check` ([targets.md](targets.md)) "
        "measures it; `make demo` writes the table of every artifact of the built-in pipeline into "
        "`runs/demo/report.md`.",
        "",
    ]
    parts += _workload_p(results)
    known = set()
    for name, title, command, what, body in SECTIONS:
        path = results / f"{name}.json"
        known.add(path.name)
        if not path.is_file():
            continue
        d = json.loads(path.read_text())
        env = d.get("environment", {})
        versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
        parts += [
            f"## {title}",
            "",
            f"`{command}` -> `bench/results/{name}.json`",
            "",
            what,
            "",
            f"Measured {env.get('time', '?')} on {env.get('cpu') or env.get('machine', '?')}, "
            f"{env.get('cores', '?')} cores, Python {env.get('python', '?')}, {versions}."
            + _workload_line(d),
            "",
            *body(d),
        ]
    others = sorted(p.name for p in results.glob("*.json") if p.name not in known)
    if others:
        parts += ["## Other results", ""]
        parts += [f"- [`bench/results/{n}`](../bench/results/{n})" for n in others]
        parts += [""]
    return "\n".join(parts).rstrip() + "\n"


def render_readme(text: str, results: Path = RESULTS) -> str:
    """``text`` (the README) with each generated line re-rendered from its results file."""
    lines = text.split("\n")
    for name, opening, line in README_LINES:
        path = results / f"{name}.json"
        at = [i for i, x in enumerate(lines) if x.startswith(opening)]
        if len(at) != 1:
            raise SystemExit(f"README.md: want one line starting {opening!r}, found {len(at)}")
        if path.is_file():
            lines[at[0]] = line(json.loads(path.read_text()))
    return "\n".join(lines)


def _replace(path: Path, text: str) -> None:
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write(page: Path = PAGE, results: Path = RESULTS) -> Path:
    _replace(page, render(results))
    if page == PAGE:  # the README's generated lines too
        _replace(README, render_readme(README.read_text(), results))
    return page


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = ap.parse_args(argv)
    if args.check:
        if not PAGE.is_file() or PAGE.read_text() != render():
            print(f"{PAGE} is stale: run `python -m bench.docs`", file=sys.stderr)
            return 1
        if README.read_text() != render_readme(README.read_text()):
            print(f"{README}'s generated lines are stale: run `python -m bench.docs`",
                  file=sys.stderr)  # fmt: skip
            return 1
        return 0
    print(f"-> {write()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
