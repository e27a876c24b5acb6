"""Running an exploration: cache lookups, then the evaluation tasks in one of three
executors, then the front and the exact re-check.

Tasks are ``evaluate.evaluate_batch(model, configs)``: pure, so their results are cached
on disk under a key of (model sha256, canonical config JSON, bnncc version, a digest of
bnncc's and hw_sim's sources and target files) and an executor may run them anywhere.

* ``inprocess``: a loop in this process (no start-up cost; best for small sweeps);
* ``pool``: ``concurrent.futures.ProcessPoolExecutor``; the model bytes go to each
  worker once (initializer), each worker lowers the model once per target (memo);
* ``dask``: a ``dask.distributed`` scheduler (``--scheduler`` or
  ``DASK_SCHEDULER_ADDRESS``); the model bytes are scattered once (broadcast) and the
  tasks name it.  Workers need bnncc installed.

Configurations are sent in batches (``batch_size``) so the per-task overhead (measured
5-9 ms per Dask task on a loaded 2-core LocalCluster) is paid per batch, not per
configuration: one FPGA estimate costs about half a millisecond.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path

from .. import __version__
from ..errors import BnnccError
from .evaluate import Model, config_json, evaluate_batch

AUTO_POOL_ABOVE = 2000    # pending configurations above which "auto" uses the process pool


def code_digest() -> str:
    """sha256 of the sources and target files every estimate depends on."""
    from ..resources import targets_dir

    h = hashlib.sha256(__version__.encode())
    roots = [Path(__file__).resolve().parents[1], Path(__file__).resolve().parents[2] / "hw_sim"]
    files = [p for r in roots if r.is_dir() for p in sorted(r.rglob("*.py"))]
    files += sorted(targets_dir().glob("*.toml"))
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


class DiskCache:
    """One JSON file per evaluated configuration, under ``root/<2 hex>/<key>.json``."""

    def __init__(self, root, digest: str):
        self.root = Path(root)
        self.digest = digest
        self.hits = self.misses = 0

    def key(self, model: Model, config: dict) -> str:
        return hashlib.sha256(f"{model.sha256}\n{config_json(config)}\n{self.digest}".encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        p = self.root / key[:2] / f"{key}.json"
        try:
            out = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return out

    def put(self, key: str, value: dict) -> None:
        p = self.root / key[:2] / f"{key}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")
        os.replace(tmp, p)


# --- executors --------------------------------------------------------------------

_WORKER_MODEL: Model | None = None


def _pool_init(model: Model) -> None:
    global _WORKER_MODEL
    _WORKER_MODEL = model


def _pool_task(configs: list[dict]) -> list[dict]:
    return evaluate_batch(_WORKER_MODEL, configs)


def batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


MAX_BATCH = 1000


def batch_size(n: int, workers: int) -> int:
    """About 4 batches per worker (load balance), at most ``MAX_BATCH`` configurations
    each.  Measured on a LocalCluster here: 5-9 ms of overhead per Dask task (750 tasks
    of 8 against 94 of 64) next to ~0.5 ms per FPGA configuration, so small batches cost
    more than they balance."""
    return max(1, min(MAX_BATCH, math.ceil(n / max(1, 4 * workers))))


def run_inprocess(model: Model, configs: list[dict], **_) -> list[dict]:
    return evaluate_batch(model, configs)


def run_pool(model: Model, configs: list[dict], workers: int | None = None, size: int | None = None) -> list[dict]:
    from concurrent.futures import ProcessPoolExecutor

    workers = workers or os.cpu_count() or 1
    chunks = batches(configs, size or batch_size(len(configs), workers))
    with ProcessPoolExecutor(max_workers=workers, initializer=_pool_init, initargs=(model,)) as ex:
        return [r for part in ex.map(_pool_task, chunks) for r in part]


def dask_client(scheduler):
    """A ``distributed.Client`` for an address (or the given client itself)."""
    try:
        from distributed import Client
    except ImportError:
        raise BnnccError("--scheduler needs dask.distributed: pip install 'bnncc[explore]'") from None
    if not isinstance(scheduler, str):
        return scheduler
    try:
        return Client(scheduler, timeout=20)
    except OSError as exc:
        raise BnnccError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None


def run_dask(model: Model, configs: list[dict], scheduler=None, size: int | None = None, **_) -> list[dict]:
    client = dask_client(scheduler)
    try:
        workers = max(1, sum(client.nthreads().values()))
        chunks = batches(configs, size or batch_size(len(configs), workers))
        # hash=False: a fresh key per run; with the content hash, a second run on the same
        # client re-scatters under the key the first run is releasing ("lost dependencies")
        ref = client.scatter(model, broadcast=True, hash=False)
        futures = client.map(evaluate_batch, [ref] * len(chunks), chunks, pure=False)
        return [r for part in client.gather(futures) for r in part]
    finally:
        if isinstance(scheduler, str):
            client.close()


def _dask_workers(scheduler) -> int | None:
    try:
        client = dask_client(scheduler)
        n = sum(client.nthreads().values())
        if isinstance(scheduler, str):
            client.close()
        return n
    except Exception:  # only a statistic
        return None


def evaluate_all(model: Model, items: list[dict], mode: str = "auto", workers: int | None = None,
                 scheduler=None, cache: DiskCache | None = None) -> tuple[list[dict], dict]:
    """Rows (one per item, in order: id, config, origin, metrics | error, cached) and the
    run's statistics (mode, workers, seconds, configurations/s)."""
    if scheduler is None and mode in ("auto", "dask"):
        scheduler = os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if mode == "dask" and scheduler is None:
        raise BnnccError("the dask mode needs --scheduler tcp://host:port (or DASK_SCHEDULER_ADDRESS)")
    results: list[dict | None] = [None] * len(items)
    keys = [None] * len(items)
    if cache is not None:
        for i, it in enumerate(items):
            keys[i] = cache.key(model, it["config"])
            results[i] = cache.get(keys[i])
    todo = [i for i, r in enumerate(results) if r is None]
    if mode == "auto":
        mode = "dask" if scheduler is not None else (
            "pool" if workers is not None or len(todo) > AUTO_POOL_ABOVE else "inprocess")
    run = {"inprocess": run_inprocess, "pool": run_pool, "dask": run_dask}.get(mode)
    if run is None:
        raise BnnccError(f"unknown executor '{mode}' (inprocess, pool, dask)")
    t0 = time.perf_counter()
    kw = {"workers": workers} if mode == "pool" else ({"scheduler": scheduler} if mode == "dask" else {})
    fresh = run(model, [items[i]["config"] for i in todo], **kw) if todo else []
    seconds = time.perf_counter() - t0
    for i, r in zip(todo, fresh):
        results[i] = r
        if cache is not None and "metrics" in r:
            cache.put(keys[i], r)
    fresh_ids = set(todo)
    rows = [{"id": i, "config": it["config"], "origin": it["origin"], **results[i], "cached": i not in fresh_ids}
            for i, it in enumerate(items)]
    if mode == "pool":
        workers = workers or os.cpu_count() or 1
    elif mode == "dask":
        workers = _dask_workers(scheduler)
    else:
        workers = 1
    stats = {"mode": mode, "workers": workers,
             "evaluated": len(todo), "cached": len(items) - len(todo), "seconds": seconds,
             "configs_per_s": len(todo) / seconds if todo and seconds > 0 else None}
    return rows, stats


# --- the exact re-check, in the same executor -----------------------------------


def recheck_task(model: Model, config: dict, n: int, seed: int) -> dict:
    """One re-check: {"exact": metrics} or {"failed": one line} (a task like the others)."""
    from .evaluate import recheck

    try:
        return {"exact": recheck(model.proto(), config, n=n, seed=seed)}
    except BnnccError as exc:
        from ..errors import first_line

        return {"failed": first_line(exc)}


def _pool_recheck(args) -> dict:
    return recheck_task(_WORKER_MODEL, *args)


def recheck_all(model: Model, configs: list[dict], mode: str, workers: int | None, scheduler, n: int,
                seed: int) -> list[dict]:
    """The re-checks of ``configs`` in the executor the evaluation used (each is a
    cross-compile and an ISS run, or a dataflow simulation: seconds, so they are worth
    spreading)."""
    if not configs:
        return []
    if mode == "pool":
        from concurrent.futures import ProcessPoolExecutor

        workers = min(len(configs), workers or os.cpu_count() or 1)
        with ProcessPoolExecutor(max_workers=workers, initializer=_pool_init, initargs=(model,)) as ex:
            return list(ex.map(_pool_recheck, [(c, n, seed) for c in configs]))
    if mode == "dask":
        client = dask_client(scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS"))
        try:
            ref = client.scatter(model, broadcast=True, hash=False)
            futures = client.map(recheck_task, [ref] * len(configs), configs, [n] * len(configs),
                                 [seed] * len(configs), pure=False)
            return client.gather(futures)
        finally:
            if isinstance(scheduler, str) or scheduler is None:
                client.close()
    return [recheck_task(model, c, n, seed) for c in configs]


# --- the whole exploration --------------------------------------------------------

RECHECK_METRICS = ("cycles", "ii_cycles", "latency_ms", "energy_uj", "fps", "luts", "brams", "flash_bytes",
                   "ram_bytes")


def _errors(est: dict, exact: dict) -> dict:
    return {k: est[k] / exact[k] - 1 for k in RECHECK_METRICS
            if est.get(k) is not None and exact.get(k) not in (None, 0)}


def agrees(kind: str, est: dict, exact: dict) -> tuple[bool, str]:
    """Whether an estimate is within its estimator's stated error of the exact path."""
    from .evaluate import MCU_STATED_ERROR

    if kind == "mcu":
        e = est["cycles"] / exact["cycles"] - 1
        return abs(e) <= MCU_STATED_ERROR, f"cycles {e:+.1%} (stated +-{MCU_STATED_ERROR:.0%})"
    ok = est["ii_cycles"] == exact["ii_cycles"] and est["cycles"] >= exact["cycles"]
    return ok, (f"II {est['ii_cycles']:,} vs {exact['ii_cycles']:,} (stated: exact); latency bound "
                f"{est['cycles']:,} >= {exact['cycles']:,} simulated")


def pick_recheck(rows: list[dict], front_rows: list[dict], k: int, objectives: list[str], constraints) -> list[tuple]:
    """The first ``k`` rows of the front, then the best feasible row of each target kind
    (MCU, FPGA) that has none yet, so both estimators are checked: (row, why)."""
    from .pareto import METRICS, feasible

    picks = [(r, "front") for r in front_rows[:k]]
    key, sense = METRICS[objectives[0]][:2]
    for kind in ("mcu", "fpga"):
        if k <= 0 or any(r["metrics"]["kind"] == kind for r, _ in picks):
            continue
        cand = [r for r in rows if "metrics" in r and r["metrics"]["kind"] == kind and feasible(r, constraints)
                and r["metrics"].get(key) is not None]
        if cand:
            best = min(cand, key=lambda r: (sense * r["metrics"][key], r["id"]))
            picks.append((best, f"best {kind.upper()} by {objectives[0]} (not on the front)"))
    return picks


def best_per_target(rows: list[dict], objective: str, constraints) -> dict[str, int]:
    """Per target, the id of the best feasible row by one objective (context for a front
    that one kind of target dominates)."""
    from .pareto import METRICS, feasible

    key, sense = METRICS[objective][:2]
    best: dict[str, dict] = {}
    for r in rows:
        if "metrics" not in r or r["metrics"].get(key) is None or not feasible(r, constraints):
            continue
        t = r["config"]["target"]
        if t not in best or sense * r["metrics"][key] < sense * best[t]["metrics"][key]:
            best[t] = r
    return {t: r["id"] for t, r in best.items()}


def explore(model_path, targets, budget: int = 200, objectives=("latency", "energy"), constraints=(),
            recheck_k: int = 3, mode: str = "auto", workers: int | None = None, scheduler=None,
            cache_dir=None, seed: int = 0, recheck_inputs: int = 4, progress=None) -> dict:
    """The explore.json record: every evaluated row, the front, the re-checks."""
    from . import space
    from .evaluate import FPGA_STATED, MCU_STATED, lowered_graph
    from .pareto import front, objective_names, parse_constraint

    say = progress or (lambda msg: None)
    objectives = objective_names(objectives)
    cons = [c if not isinstance(c, str) else parse_constraint(c) for c in constraints]
    if budget <= 0:
        raise BnnccError("--budget must be positive")
    model = Model.from_path(model_path)
    ts = space.expand_targets(targets)
    if not ts:
        raise BnnccError("no target given (--targets)")
    t0 = time.perf_counter()
    graphs = {t.name: lowered_graph(model, t) for t in ts if t.kind == "fpga"}
    items = space.build_space(graphs, ts, budget, seed)
    space_s = time.perf_counter() - t0
    say(f"evaluating {len(items)} configurations")
    digest = code_digest()
    cache = DiskCache(cache_dir, digest) if cache_dir else None
    rows, stats = evaluate_all(model, items, mode, workers, scheduler, cache)
    stats["space_seconds"] = space_s
    fr = front(rows, objectives, cons)
    checks = []
    picks = pick_recheck(rows, fr, recheck_k, objectives, cons)
    if picks:
        say(f"re-checking rows {', '.join(str(r['id']) for r, _ in picks)} on the exact path ({stats['mode']})")
    t1 = time.perf_counter()
    exacts = recheck_all(model, [r["config"] for r, _ in picks], stats["mode"], workers, scheduler,
                         recheck_inputs, seed)
    stats["recheck_seconds"] = time.perf_counter() - t1
    for (row, why), res in zip(picks, exacts):
        if "failed" in res:
            checks.append({"id": row["id"], "why": why, "config": row["config"], "failed": res["failed"]})
            continue
        exact = res["exact"]
        ok, text = agrees(row["metrics"]["kind"], row["metrics"], exact)
        checks.append({"id": row["id"], "why": why, "config": row["config"], "estimate": row["metrics"],
                       "exact": exact, "error": _errors(row["metrics"], exact), "within_stated": ok,
                       "summary": text})
    from collections import Counter

    errors = sorted(Counter(r["error"] for r in rows if "error" in r).items())
    return {
        "model": str(model_path), "model_sha256": model.sha256, "bnncc_version": __version__,
        "code_digest": digest, "targets": [t.name for t in ts], "budget": budget, "seed": seed,
        "objectives": objectives, "constraints": [c.text for c in cons],
        "stated_error": {"mcu": MCU_STATED, "fpga": FPGA_STATED},
        "notes": list(space.NOTES) + [f"{n} configurations not evaluated: {e}" for e, n in errors],
        "stats": {**stats, **({"cache_hits": cache.hits, "cache_misses": cache.misses} if cache else {})},
        "rows": rows,
        "front": [r["id"] for r in fr],
        "best_per_target": best_per_target(rows, objectives[0], cons),
        "ties": {str(r["id"]): r["ties"] for r in fr if r["ties"]},
        "recheck": checks,
    }
