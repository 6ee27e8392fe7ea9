"""edgegru sweep: config validation, the Pareto front, and real Ray runs (in-process Ray killed
and resumed; a two-node cluster on loopback losing its worker node mid-sweep)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from edgegru.errors import BadInput
from edgegru.sweep.config import parse_sweep
from edgegru.sweep.trial import candidate
from tests.conftest import assert_one_line_error, run_cli
from tests.targets.conftest import sshd  # noqa: F401  (the real sshd on 127.0.0.1)

BASE = {
    "data": {"dataset": "basicmotions"},
    "train": {"epochs": 2},
    "compress": {"enabled": False},
    "quantize": {"schemes": ["static"]},
    "check": {"emulated": "off", "runs": 5, "warmup": 1},
}


def sweep_of(**sweep):
    return json.loads(json.dumps(BASE)) | {"sweep": sweep}


def toml_value(v):
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    return repr(v)


def write_toml(path, data):
    """A small TOML writer for the test configs (tables, arrays of tables, inline values)."""
    lines = []

    def table(name, t):
        scalars = {k: v for k, v in t.items() if not isinstance(v, dict) or name.endswith("space")}
        scalars = {k: v for k, v in scalars.items() if k != "constraints"}
        lines.append(f"[{name}]")
        lines.extend(f"{json.dumps(k)} = {toml_value(v)}" for k, v in scalars.items())
        for k, v in t.items():
            if isinstance(v, dict) and not name.endswith("space"):
                table(f"{name}.{k}", v)
        for c in t.get("constraints", []):
            lines.append(f"[[{name}.constraints]]")
            lines.extend(f"{k} = {toml_value(v)}" for k, v in c.items())

    for name, t in data.items():
        table(name, t)
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- config, no Ray


@pytest.mark.parametrize(
    ("sweep", "needle"),
    [
        ({"space": {"train.hiden": [8]}}, "unknown key (did you mean train.hidden?)"),
        ({"space": {"trian.hidden": [8]}}, "unknown section 'trian' (did you mean 'train'?)"),
        ({"space": {"train.hidden": [0]}}, "hidden, layers and epochs must be >= 1"),
        ({"space": {"train.hidden": {"min": 8, "max": 16}}}, "a grid needs step"),
        ({"space": {"train.cell": {"min": 1, "max": 2}}}, "a range needs a numeric key"),
        ({"space": {"quantize.scheme": ["int4"]}}, "unknown scheme 'int4'"),
        ({"space": {"train.hidden": [8]}, "search": "bayes"}, "search must be one of"),
        ({"space": {"train.hidden": [8]}, "objectives": ["speed"]}, "unknown 'speed'"),
        ({"space": {"train.hidden": [8]}, "target": "ssh://pi@x"}, "not in [check] targets"),
        ({"space": {"train.hidden": [8]}, "constraints": [{"max_kb": 4}]}, "unknown key 'max_kb'"),
        ({"space": {}}, "name at least one key"),
        (
            {"space": {"train.hidden": [8]}, "objectives": ["accuracy", "arena"]},
            'arena is measured by TFLite Micro: add "tflm" to [check] targets',
        ),
        (
            {"space": {"train.hidden": [8]}, "constraints": [{"max_flash_kb": 9}]},
            'max_flash_kb is measured by TFLite Micro: add "tflm"',
        ),
    ],
)
def test_bad_sweeps_fail_with_one_line(sweep, needle):
    with pytest.raises(BadInput) as e:
        parse_sweep(sweep_of(**sweep))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_multiple_schemes_per_trial_are_refused():
    raw = sweep_of(space={"train.hidden": [8]})
    raw["quantize"] = {"schemes": ["dynamic", "static"]}  # the default has both
    with pytest.raises(BadInput, match="a trial deploys one file"):
        parse_sweep(raw)


def test_grid_plan_varies_later_stages_slowest_and_random_is_seeded():
    sweep = parse_sweep(
        sweep_of(space={"quantize.scheme": ["static", "dynamic"], "train.hidden": [8, 16]})
    )
    plan = sweep.plan()
    assert [t["id"] for t in plan] == ["t000", "t001", "t002", "t003"]
    # the first two trials train distinct models; the last two reuse them
    assert [(p["params"]["quantize.scheme"], p["params"]["train.hidden"]) for p in plan] == [
        ("static", 8), ("static", 16), ("dynamic", 8), ("dynamic", 16)
    ]  # fmt: skip
    cfg = sweep.trial_config(plan[2]["params"])
    assert cfg.quantize.schemes == ["dynamic"] and cfg.export.formats == ["tflite"]
    assert cfg.export.forms == ["sequence"] and sweep.precision(cfg) == "int8-dynamic"
    rnd = sweep_of(search="random", trials=5, seed=3,
                   space={"train.lr": {"min": 1e-3, "max": 1e-2, "log": True},
                          "train.hidden": {"min": 8, "max": 32, "step": 8}})  # fmt: skip
    del rnd["quantize"]  # the default's two schemes: one per trial through quantize.scheme
    rnd["sweep"]["space"]["quantize.scheme"] = ["static", "dynamic"]
    a, b = parse_sweep(rnd).plan(), parse_sweep(rnd).plan()
    assert a == b and len(a) == 5
    assert all(1e-3 <= t["params"]["train.lr"] <= 1e-2 for t in a)
    assert all(t["params"]["train.hidden"] in (8, 16, 24, 32) for t in a)


def test_cli_without_ray_says_how_to_install(tmp_path):
    cfg = write_toml(tmp_path / "s.toml", sweep_of(space={"train.hidden": [8]}))
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from edgegru.cli import main\n"
        f"main(['sweep', {str(cfg)!r}, '-o', {str(tmp_path / 'o')!r}])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert_one_line_error(proc, "pip install 'edgegru[sweep]'")
    assert not (tmp_path / "o").exists()


def test_help_does_not_import_ray():
    code = (
        "import sys\nfrom edgegru.cli import main\n"
        "for args in (['--help'], ['sweep', '--help'], ['report', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "assert 'ray' not in sys.modules and 'torch' not in sys.modules, 'ray imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Example" in proc.stdout and "--resume" in proc.stdout and "--address" in proc.stdout


def test_sweep_cli_bad_config_exits_2(tmp_path):
    cfg = write_toml(tmp_path / "s.toml", sweep_of(space={"train.hiden": [8]}))
    assert_one_line_error(run_cli("sweep", str(cfg), "-o", str(tmp_path / "o")), "train.hiden")
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- processes we start


def _proc_table():
    """pid -> (ppid, session id) for every process, from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            table[int(entry)] = (int(fields[1]), int(fields[3]))
    return table


def _family(root: int) -> set[int]:
    """``root``, its descendants and every process left in its session (Ray's daemons are
    reparented to init when their parent dies but keep the session)."""
    table = _proc_table()
    found = {root} | {p for p, (_, sid) in table.items() if sid == root}
    grew = True
    while grew:
        more = {p for p, (pp, _) in table.items() if pp in found} - found
        found |= more
        grew = bool(more)
    return found & set(table)


def kill_family(root: int) -> None:
    for _ in range(3):  # a dying parent may still start a child: sweep again
        pids = _family(root)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)


def start(args, log, env=None):
    """A process in its own session, so it and everything it starts can be ended together."""
    return subprocess.Popen(
        args, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        env=dict(os.environ, PYTHONWARNINGS="ignore", **(env or {})),
    )  # fmt: skip


@pytest.fixture
def started():
    procs = []
    try:
        yield procs
    finally:
        for p in procs:
            kill_family(p.pid)
            p.wait(timeout=30)


def records(out):
    return {p.parent.name: p.read_bytes() for p in sorted(out.glob("trials/*/trial.json"))}


def wait_for(cond, timeout, what, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: the process exited with {proc.returncode}")
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def sweep_cmd(cfg, out, *extra):
    return [sys.executable, "-m", "edgegru", "sweep", str(cfg), "-o", str(out), *extra]


def sweep_ok(cfg, out, started, *extra):
    """Run ``edgegru sweep`` to the end (exit 0); its results.json and its log."""
    log = out.with_name(out.name + ".log")
    run = start(sweep_cmd(cfg, out, *extra), log, CLUSTER_ENV if "--address" in extra else None)
    started.append(run)
    run.wait(timeout=600)
    assert run.returncode == 0, log.read_text()
    return json.loads((out / "results.json").read_text()), log.read_text()


def assert_tables_well_formed(md):
    """Every row of every Markdown table has its header's column count."""
    widths = []
    for line in md.splitlines():
        if line.startswith("|"):
            widths.append(line.count("|"))
        elif widths:
            assert len(set(widths)) == 1, md
            widths = []


def independent_front(points, x):
    """Brute force over the trials' own numbers: not dominated by any other point."""
    front = set()
    for tid, p in points.items():
        beaten = any(
            q["accuracy"] >= p["accuracy"] and q[x] <= p[x] and (q["accuracy"], q[x]) != (
                p["accuracy"], p[x])
            for oid, q in points.items() if oid != tid
        )  # fmt: skip
        if not beaten:
            front.add(tid)
    return front


# ---------------------------------------------------------------- in-process Ray


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_sweep_in_process_killed_and_resumed(tmp_path, started):
    """6 tiny trials on basicmotions (3 sizes x 2 schemes; the H = 8 trials fail on bad input:
    pruning to 12 needs a larger model). Killed after two records, resumed: nothing finished
    runs again, the report's fronts match the trials' own results.json."""
    raw = json.loads(json.dumps(BASE))
    raw["compress"] = {"method": "prune", "hidden": 12, "curve": [], "finetune_epochs": 1}
    raw["sweep"] = {
        "search": "grid",
        "space": {"train.hidden": [8, 16, 24], "quantize.scheme": ["static", "dynamic"]},
        "constraints": [
            {"name": "tiny", "max_params_kb": 2.0},
            {"name": "none", "min_accuracy": 1.01},
        ],
    }
    cfg = write_toml(tmp_path / "sweep.toml", raw)
    out = tmp_path / "out"
    first = start(sweep_cmd(cfg, out), tmp_path / "first.log")
    started.append(first)
    wait_for(lambda: len(records(out)) >= 2, 400, "two finished trials", first)
    kill_family(first.pid)  # SIGKILL: the driver, in-process Ray and its workers
    first.wait(timeout=30)
    before = records(out)
    mtimes = {t: (out / "trials" / t / "trial.json").stat().st_mtime_ns for t in before}
    assert 2 <= len(before) < 6

    second = start(sweep_cmd(cfg, out, "--resume"), tmp_path / "second.log")
    started.append(second)
    second.wait(timeout=600)
    log = (tmp_path / "second.log").read_text()
    # the "none" constraint set cannot be met: exit 1 after the report is written
    assert second.returncode == 1, log
    assert "no trial within none" in log
    result = json.loads((out / "results.json").read_text())
    after = records(out)
    assert len(after) == 6
    for tid, data in before.items():  # finished trials were not run again
        assert after[tid] == data
        assert (out / "trials" / tid / "trial.json").stat().st_mtime_ns == mtimes[tid]

    trials = {t["id"]: t for t in result["trials"]}
    failed = {t for t, r in trials.items() if r["status"] == "failed"}
    assert failed == {t for t, r in trials.items() if r["params"]["train.hidden"] == 8}
    for t in failed:
        assert "not smaller than the model's 8" in trials[t]["error"]
    assert {f["id"] for f in result["failed"]} == failed

    # every done trial's numbers, read from its own pipeline results.json
    points = {}
    for tid, r in trials.items():
        if r["status"] != "done":
            continue
        own = json.loads((out / "trials" / tid / "results.json").read_text())
        precision = {"static": "int8-static", "dynamic": "int8-dynamic"}[
            r["params"]["quantize.scheme"]
        ]
        c = candidate(own, "tflite", "sequence", precision, "local")
        assert c is not None
        points[tid] = {"accuracy": c["check"]["accuracy"], "size_bytes": c["size_bytes"],
                       "p50_us": c["check"]["p50_us"]}  # fmt: skip
        assert r["metrics"]["accuracy"] == points[tid]["accuracy"]
    assert len(points) == 4
    assert set(result["fronts"]["size"]) == independent_front(points, "size_bytes")
    assert set(result["fronts"]["latency"]) == independent_front(points, "p50_us")
    best = {b["name"]: b["trial"] for b in result["best"]}
    assert best["none"] is None
    tiny = [t for t in points if trials[t]["metrics"]["param_bytes"] <= 2048]
    assert best["tiny"] == max(
        tiny, key=lambda t: (points[t]["accuracy"], -points[t]["size_bytes"])
    )

    # trials sharing train.hidden trained once: one cache entry per size; the H = 8 trials fail
    # the pipeline's up-front validation ([compress] hidden 8 is not smaller) before training
    assert len([p for p in (out / "cache" / "train").iterdir() if p.is_dir()]) == 2
    by_key = {(r["params"]["train.hidden"], r["params"]["quantize.scheme"]): t
              for t, r in trials.items()}  # fmt: skip
    for h in (16, 24):
        a, b = (
            out / "trials" / by_key[(h, s)] / "train" / "stage.json" for s in ("static", "dynamic")
        )
        assert a.read_bytes() == b.read_bytes()

    for name in ("sweep.md", "pareto_size.png", "pareto_latency.png"):
        assert (out / name).is_file(), name
    md = (out / "sweep.md").read_text()
    assert_tables_well_formed(md)
    (out / "sweep.md").unlink()
    proc = run_cli("report", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "sweep.md").read_text() == md


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_optuna_sweep_minimizes_the_tflm_arena(tmp_path, started):
    """objectives = ["accuracy", "arena"]: Optuna reads TFLite Micro's arena from each trial's
    tflm check (accuracy from `local`); the report's arena front and the best trial within an
    arena budget come from the trials' own results.json."""
    raw = json.loads(json.dumps(BASE))
    raw["check"] |= {"targets": ["local", "tflm"], "limit": 8}
    raw["sweep"] = {
        "search": "optuna", "trials": 2, "max_concurrent": 2, "target": "local",
        "objectives": ["accuracy", "arena"],
        "space": {"train.hidden": {"min": 4, "max": 16, "step": 4}},
        "constraints": [{"name": "arena", "max_arena_kb": 64}],
    }  # fmt: skip
    cfg, out = tmp_path / "sweep.toml", tmp_path / "out"
    result, log = sweep_ok(write_toml(cfg, raw), out, started)
    trials = {t["id"]: t for t in result["trials"]}
    assert [t["status"] for t in trials.values()] == ["done"] * 2, log
    points = {}
    for tid, t in trials.items():
        own = json.loads((out / "trials" / tid / "results.json").read_text())
        rows = own["stages"]["check"]["outputs"]["rows"]
        (row,) = [r for r in rows if r["target"] == "tflm" and r["file"] == t["metrics"]["file"]]
        assert t["metrics"]["arena_bytes"] == row["mcu"]["arena_bytes"] > 0
        assert t["metrics"]["flash_bytes"] == row["mcu"]["flash_bytes"]
        points[tid] = t["metrics"]
    assert set(result["fronts"]["arena"]) == independent_front(points, "arena_bytes")
    within = [t for t, m in points.items() if m["arena_bytes"] <= 64 * 1024]
    best = max(within, key=lambda t: (points[t]["accuracy"], -points[t]["size_bytes"]))
    assert result["best"][0]["trial"] == best
    md = (out / "sweep.md").read_text()
    assert "arena KB" in md and "accuracy vs TFLite Micro tensor arena" in md
    assert_tables_well_formed(md)
    assert (out / "pareto_arena.png").is_file()


# ---------------------------------------------------------------- a two-node cluster

# Ray rewrites 127.0.0.1 to the host's network address; another loopback address stays local.
CLUSTER_IP = "127.0.0.2"
# Token auth on every process of the test cluster (the token lives in ~/.ray); node death is
# noticed within ~2 s instead of Ray's default ~15 s.
CLUSTER_ENV = {
    "RAY_AUTH_MODE": "token",
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "4",
}


def free_port():
    with socket.socket() as s:
        s.bind((CLUSTER_IP, 0))
        return s.getsockname()[1]


def cluster_nodes(address):
    """The cluster's live nodes as seen by a short-lived driver: [(node id, resources)]."""
    code = (
        "import json, ray\n"
        f"ray.init(address={address!r}, log_to_driver=False)\n"
        "print(json.dumps([(n['NodeID'], n['Resources']) for n in ray.nodes() if n['Alive']]))\n"
    )
    env = dict(os.environ, **CLUSTER_ENV)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, check=False)  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1]) if proc.returncode == 0 and lines else []


RAY_BIN = str(Path(sys.executable).with_name("ray"))
NODE_ARGS = ["--block", "--node-ip-address", CLUSTER_IP, "--num-cpus", "1",
             "--disable-usage-stats"]  # fmt: skip


def start_head(tmp_path, started, temp, *extra):
    """A one-CPU head node on loopback (its processes in ``started``); its GCS address once it
    is up."""
    address = f"{CLUSTER_IP}:{free_port()}"
    head_cmd = [RAY_BIN, "start", "--head", "--port", address.split(":")[1], "--temp-dir", temp,
                "--include-dashboard=false", *NODE_ARGS, *extra]  # fmt: skip
    started.append(start(head_cmd, tmp_path / "head.log", CLUSTER_ENV))
    wait_for(lambda: len(cluster_nodes(address)) == 1, 180, "the head node")
    return address


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_sweep_on_two_node_cluster_survives_losing_the_worker(tmp_path, started):
    """Head + one worker node (one CPU each) on loopback; the worker node is killed while it
    runs a trial; Ray Tune runs that trial again on the head and the sweep completes."""
    temp = tempfile.mkdtemp(prefix="egr", dir="/tmp")  # short: Ray's socket paths must fit
    try:
        address = start_head(tmp_path, started, temp)
        worker_cmd = [RAY_BIN, "start", "--address", address, *NODE_ARGS,
                      "--resources", json.dumps({"sweep_test_worker": 1})]  # fmt: skip
        worker = start(worker_cmd, tmp_path / "worker.log", CLUSTER_ENV)
        started.append(worker)
        nodes: dict[str, dict] = {}

        def two_nodes():
            nodes.clear()
            nodes.update(cluster_nodes(address))
            return len(nodes) >= 2

        wait_for(two_nodes, 180, "the worker node")
        worker_id = next(n for n, res in nodes.items() if "sweep_test_worker" in res)

        raw = json.loads(json.dumps(BASE))
        raw["sweep"] = {"search": "grid", "retries": 3,
                        "space": {"train.hidden": [8, 12, 16, 20]}}  # fmt: skip
        cfg = write_toml(tmp_path / "sweep.toml", raw)
        out = tmp_path / "out"
        run = start(sweep_cmd(cfg, out, "--address", address), tmp_path / "sweep.log", CLUSTER_ENV)
        started.append(run)

        def on_worker():
            for a in out.glob("trials/*/attempts.json"):
                with contextlib.suppress(OSError, ValueError):
                    if (
                        json.loads(a.read_text()).get("node_id") == worker_id
                        and not (a.parent / "trial.json").exists()
                    ):
                        return a.parent.name
            return None

        wait_for(lambda: on_worker() is not None, 300, "a trial running on the worker node", run)
        victim = on_worker()
        kill_family(worker.pid)  # the whole worker node: its raylet and the trial's process
        run.wait(timeout=600)
        log = (tmp_path / "sweep.log").read_text()
        assert run.returncode == 0, log
        result = json.loads((out / "results.json").read_text())
        assert [t["status"] for t in result["trials"]] == ["done"] * 4, log
        record = next(t for t in result["trials"] if t["id"] == victim)
        assert record["attempts"] >= 2 and record["node_id"] != worker_id
        assert {"id": victim, "attempts": record["attempts"]} in result["retried"]
        assert "ran 2 times" in (out / "sweep.md").read_text() or record["attempts"] > 2
    finally:
        for p in started:
            kill_family(p.pid)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_sweep_through_ray_client(tmp_path, started):
    """--address ray://127.0.0.1:PORT: a head on loopback with Ray Client's server; a tiny sweep
    runs its trials on that cluster (not on a Ray of its own) into a local OUTDIR."""
    temp = tempfile.mkdtemp(prefix="egr", dir="/tmp")
    try:
        port = free_port()
        address = start_head(tmp_path, started, temp, "--ray-client-server-port", str(port))
        ((head_id, _),) = cluster_nodes(address)
        raw = json.loads(json.dumps(BASE))
        raw["sweep"] = {"search": "grid", "space": {"train.hidden": [8, 12]}}
        cfg = write_toml(tmp_path / "sweep.toml", raw)
        client = f"ray://127.0.0.1:{port}"
        result, log = sweep_ok(cfg, tmp_path / "out", started, "--address", client)
        assert f"Ray cluster at {client}" in log
        trials = result["trials"]
        assert [(t["status"], t["node_id"]) for t in trials] == [("done", head_id)] * 2, log
    finally:
        for p in started:
            kill_family(p.pid)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.xdist_group("ray")
def test_unreachable_cluster_fails_in_one_line_and_writes_nothing(tmp_path):
    cfg = write_toml(tmp_path / "s.toml", sweep_of(space={"train.hidden": [8]}))
    address = f"ray://{CLUSTER_IP}:{free_port()}"  # nothing listens there
    proc = run_cli("sweep", str(cfg), "-o", str(tmp_path / "o"), "--address", address)
    assert_one_line_error(proc, f"cannot connect to the Ray cluster at {address}")
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- Optuna on a real ssh device


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_optuna_sweep_on_ssh_device_serializes_checks(tmp_path, started, sshd):  # noqa: F811
    """Optuna's TPE picks 3 trials over ranges; two run at once, and their checks on the one
    ssh device (a real sshd on 127.0.0.1) never overlap: each holds the device's Ray resource."""
    target = sshd.target()
    raw = json.loads(json.dumps(BASE))
    raw["check"] |= {"targets": [target]}
    raw["sweep"] = {
        "search": "optuna", "trials": 3, "max_concurrent": 2, "objectives": ["accuracy", "size"],
        "space": {"train.hidden": {"min": 4, "max": 16, "step": 4},
                  "train.lr": {"min": 1e-3, "max": 1e-2, "log": True}},
    }  # fmt: skip
    cfg, out = tmp_path / "sweep.toml", tmp_path / "out"
    result, log = sweep_ok(write_toml(cfg, raw), out, started)
    trials = result["trials"]
    assert [t["status"] for t in trials] == ["done"] * 3, log
    leases = []
    for t in trials:
        assert t["params"]["train.hidden"] in (4, 8, 12, 16)
        assert 1e-3 <= t["params"]["train.lr"] <= 1e-2
        (lease,) = t["device_leases"]
        assert lease["resource"] == "device:" + target.split("?")[0]
        leases.append((lease["from"], lease["to"]))
    leases.sort()
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(leases)), leases
    assert (out / "optuna.journal").is_file()
    # resuming a finished model-based sweep runs nothing
    proc = run_cli("sweep", str(cfg), "-o", str(out), "--resume", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "every trial has finished" in proc.stderr
    assert len(records(out)) == 3
