"""Run a sweep's trials with Ray Tune: in-process Ray by default, or an existing cluster.

Tune schedules the trials (each asks ``cpus_per_trial`` CPUs), retries a trial whose worker
died (``FailureConfig(max_failures=retries)``) and, for ``search = "optuna"``, asks Optuna's TPE
sampler (multi-objective over ``objectives``) for each next trial. ``--resume`` reads the trials'
records (the ledger, ``trials/<id>/trial.json``) and runs only what has none: the planned trials
of a grid or random search, or the remaining count of a model-based search, whose Optuna study
lives in ``OUTDIR/optuna.journal`` and so continues with every finished trial.

Trials write into OUTDIR, so on a cluster of several machines OUTDIR must be on a filesystem
every node mounts at the same path (as Ray Tune's own ``storage_path`` requires).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgegru.errors import BadInput
from edgegru.io import atomic_write_json
from edgegru.sweep.config import OBJECTIVES, Sweep
from edgegru.sweep.report import STATE, load_state, render_sweep_report
from edgegru.sweep.stages import device_resource
from edgegru.sweep.trial import read_record, run_trial, trial_dir

INSTALL_HINT = "edgegru sweep needs Ray Tune: pip install 'edgegru[sweep]'"
Say = Callable[[str], None]
LOOPBACK = "127.0.0.2"


def require_ray() -> None:
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("optuna") is None:
        raise BadInput(INSTALL_HINT)


def prepare(sweep: Sweep, out: Path, resume: bool) -> tuple[dict[str, Any], bool]:
    """OUTDIR's sweep state, checked against the config on --resume; True for a new sweep (its
    state is written once Ray is up: a cluster that cannot be reached leaves OUTDIR as it was)."""
    path = out / STATE
    if path.is_file():
        state = load_state(out)
        if not resume:
            raise BadInput(
                f"{out} holds a sweep already: --resume continues it, or choose another -o"
            )
        if state["config"] != sweep.raw:
            raise BadInput(
                f"{out} holds a different sweep (its config differs); resume it with the "
                "same config or choose another -o"
            )
        return state, False
    if resume:
        raise BadInput(f"{out} holds no sweep to resume ({STATE} missing)")
    if out.exists() and any(out.iterdir()):
        raise BadInput(f"{out} is not empty and holds no sweep: choose a new folder")
    s = sweep.section
    state = {"config": sweep.raw, "target": sweep.target,
             "candidate": {"format": s.format, "form": s.form}, "plan": sweep.plan()}  # fmt: skip
    return state, True


def _write_state(out: Path, state: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / STATE, state)


def _devices(sweep: Sweep) -> list[str]:
    """Every device resource a trial may lease: the base's [check] targets and any searched
    ``check.targets`` choice."""
    from edgegru.pipeline.config import PipelineConfig

    targets = set(PipelineConfig.from_json(sweep.base).check.targets)
    for d in sweep.dimensions:
        if d.key == "check.targets":
            targets |= {t for choice in d.choices for t in choice}
    return sorted({r for t in targets if (r := device_resource(t))})


def _trainable(config: dict[str, Any], sweep: Sweep, outdir: str,
               plan: dict[str, Any], keys: dict[str, list[Any]], cpus: int) -> None:  # fmt: skip
    """The Tune function trainable: one trial, reported once. ``sweep`` arrives validated (the
    driver parsed it once): parsing it again per trial re-built every planned trial's config,
    a cost per trial that grew with the size of the grid."""
    from ray import tune

    if "trial" in config:
        tid, params = config["trial"], plan[config["trial"]]
    else:  # model-based search: the sampler's choice indices -> the values
        tid = tune.get_context().get_trial_id()
        params = {k: (keys[k][config[k]] if k in keys else config[k]) for k in sorted(config)}
    record = run_trial(sweep, Path(outdir), tid, params, cpus)
    metrics = {k: v for k, v in record.get("metrics", {}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}  # fmt: skip
    tune.report({"trial_ok": int(record["status"] == "done"), **metrics})


def _optuna_space(sweep: Sweep) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Tune search space for Optuna; choices become indices (Optuna's categories must be plain
    scalars, a choice may be a list)."""
    from ray import tune

    space: dict[str, Any] = {}
    keys: dict[str, list[Any]] = {}
    for d in sweep.dimensions:
        if d.choices:
            keys[d.key] = list(d.choices)
            space[d.key] = tune.choice(list(range(len(d.choices))))
        elif d.integer:
            lo, hi = int(d.low), int(d.high)  # type: ignore[arg-type]
            if d.step:
                fn = tune.qlograndint if d.log else tune.qrandint
                space[d.key] = fn(lo, hi, int(d.step))
            else:
                space[d.key] = (tune.lograndint if d.log else tune.randint)(lo, hi + 1)
        elif d.step:
            space[d.key] = (tune.qloguniform if d.log else tune.quniform)(d.low, d.high, d.step)
        else:
            space[d.key] = (tune.loguniform if d.log else tune.uniform)(d.low, d.high)
    return space, keys


def _init_ray(address: str | None, devices: list[str], say: Say) -> bool:
    """Connect to ``address`` or start Ray in this process; True when we started it."""
    import ray

    if address:
        _reachable(address)
        # Ray Client passes init's keywords on to its server and logs that at INFO
        logging.getLogger("ray.client_builder").setLevel(logging.WARNING)
        _connect(ray, address, say)
        have = ray.cluster_resources()
        missing = [r for r in devices if have.get(r, 0) < 1]
        if missing:
            ray.shutdown()
            raise BadInput(f"the Ray cluster has no resource {missing[0]!r}: start one node with "
                           f"ray start ... --resources='{{\"{missing[0]}\": 1}}'")  # fmt: skip
        say(f"Ray cluster at {address}: {have.get('CPU', 0):.0f} CPUs")
        return False
    # "local": a new instance even when `ray start` left a cluster on this machine. Nothing off
    # this machine needs to reach it, so it advertises a loopback address (Ray rewrites
    # 127.0.0.1 to the host's network address, not other loopback addresses).
    ray.init(address="local", resources=dict.fromkeys(devices, 1), include_dashboard=False,
             log_to_driver=False, _node_ip_address=LOOPBACK)  # fmt: skip
    say(f"Ray started in this process: {ray.cluster_resources().get('CPU', 0):.0f} CPUs")
    return True


# Ray Client's proxy starts one server process per client; when that start fails (seen on a
# loaded machine) the connect fails with this, and a new connect starts a new server.
CLIENT_START_FAILED = "Initialization failure from server"
CLIENT_ATTEMPTS = 3


def _connect(ray: Any, address: str, say: Say) -> None:
    """ray.init(address), retried when Ray Client's server failed to start; other failures are
    one line (BadInput)."""
    for attempt in range(1, CLIENT_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():  # Ray Client warns before it raises: one line only
                warnings.simplefilter("ignore")
                ray.init(address=address, log_to_driver=False)
            return
        except (ConnectionError, ValueError, RuntimeError) as e:
            if CLIENT_START_FAILED in str(e) and attempt < CLIENT_ATTEMPTS:
                say(f"Ray Client's server at {address} failed to start; retrying ({attempt})")
                time.sleep(2.0 * attempt)
                continue
            raise BadInput(f"cannot connect to the Ray cluster at {address}: "
                           f"{' '.join(str(e).split())[:200]}") from None  # fmt: skip


def _reachable(address: str) -> None:
    """Fail in one line at once when nothing listens at HOST:PORT (Ray Client would retry for
    half a minute first)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        if address.startswith("ray://"):
            raise BadInput(f"--address {address}: give ray://HOST:PORT (the Ray Client port)")
        return  # "auto" and other forms Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as e:
        raise BadInput(f"cannot connect to the Ray cluster at {address}: "
                       f"{e.strerror or e}") from None  # fmt: skip


def _progress_callback(say: Say, total: int) -> Any:
    from ray import tune

    class Progress(tune.Callback):
        done = 0

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            Progress.done += 1
            m = trial.last_result or {}
            text = (f"accuracy {m['accuracy']:.4f}, {m['size_bytes'] / 1024:.1f} KB"
                    if m.get("trial_ok") else "failed (see its trial.json)")  # fmt: skip
            say(
                f"{Progress.done}/{total} trial {trial.config.get('trial', trial.trial_id)}: {text}"
            )

        def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            say(f"trial {trial.config.get('trial', trial.trial_id)}: its worker died, retrying")

    return Progress()


def run_sweep(sweep: Sweep, out: Path, address: str | None = None, resume: bool = False,
              plots: bool = True, say: Say = lambda m: None) -> Path:  # fmt: skip
    """Run (or continue) the sweep into ``out``; return the report's path."""
    require_ray()
    out = out.resolve()
    state, new = prepare(sweep, out, resume)
    s = sweep.section
    if s.search == "optuna":
        finished = [p for p in (out / "trials").glob("*/") if read_record(p) is not None]
        remaining = max(0, s.trials - len(finished))
    else:
        todo = [t for t in state["plan"] if read_record(trial_dir(out, t["id"])) is None]
        remaining = len(todo)
    if remaining:
        _tune(sweep, out, state if new else None, remaining, address,
              say, f"{remaining} trials to run" + (" (resuming)" if resume else ""))  # fmt: skip
    else:
        if new:
            _write_state(out, state)
        say("every trial has finished")
    return render_sweep_report(out, plots=plots)


def _tune(sweep: Sweep, out: Path, new: dict[str, Any] | None, remaining: int,
          address: str | None, say: Say, intro: str) -> None:  # fmt: skip
    """Run ``remaining`` trials on Ray Tune; ``new``: the state of a new sweep, written once Ray
    is up (a cluster that cannot be reached fails in one line and writes nothing)."""
    # Failed trials report no objective; Optuna records them as failed instead of Tune stopping.
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # No CSV / TensorBoard files per trial (a trial's record, trial.json, is the ledger): only
    # the JSON logger below, whose result.json Tune's own result grid reads at the end.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    import ray
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    s = sweep.section
    started = _init_ray(address, _devices(sweep), say)
    try:
        if new is not None:
            _write_state(out, new)
        say(intro)
        state = load_state(out)
        plan = {t["id"]: t["params"] for t in state["plan"]}
        keys: dict[str, list[Any]] = {}
        if s.search == "optuna":
            import optuna
            from ray.tune.search.optuna import OptunaSearch

            space, keys = _optuna_space(sweep)
            storage = optuna.storages.JournalStorage(
                optuna.storages.journal.JournalFileBackend(str(out / "optuna.journal"))
            )
            search = OptunaSearch(
                metric=[OBJECTIVES[o][0] for o in s.objectives],
                mode=[OBJECTIVES[o][1] for o in s.objectives],
                storage=storage, study_name="edgegru-sweep", seed=s.seed,
            )  # fmt: skip
            tune_config = tune.TuneConfig(
                search_alg=search,
                num_samples=remaining,
                max_concurrent_trials=s.max_concurrent or None,
                reuse_actors=True,
            )
        else:
            todo = [t["id"] for t in state["plan"] if read_record(trial_dir(out, t["id"])) is None]
            space = {"trial": tune.grid_search(todo)}
            tune_config = tune.TuneConfig(
                max_concurrent_trials=s.max_concurrent or None, reuse_actors=True
            )
        # reuse_actors: one worker process runs trial after trial (its imports of torch and
        # the runtimes are paid once, not per trial)
        trainable = tune.with_resources(
            tune.with_parameters(_trainable, sweep=sweep, outdir=str(out), plan=plan, keys=keys,
                                 cpus=s.cpus_per_trial),
            {"cpu": s.cpus_per_trial},
        )  # fmt: skip
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune_config,
            run_config=tune.RunConfig(
                name=f"tune-{time.strftime('%Y%m%d-%H%M%S')}",
                storage_path=str(out / "ray"),
                failure_config=tune.FailureConfig(max_failures=s.retries),
                callbacks=[_progress_callback(say, remaining), JsonLoggerCallback()],
                verbose=0,
            ),
        )
        tuner.fit()
    finally:
        if started or address:
            ray.shutdown()
