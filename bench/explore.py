"""Throughput of ``bnncc explore``'s evaluation (configurations/s) per executor.

    python bench/explore.py [MODEL.onnx] [--n 2000] [--targets pynq-z2,ultra96] [--workers 2] [--json out.json]

One configuration list (FPGA foldings of the model, from ``explore.space``) is evaluated
by each executor: in-process; a ``concurrent.futures`` process pool (wall time includes
starting the workers, which then lower the model once per target); a
``distributed.LocalCluster`` on loopback with ``--workers`` worker processes of one
thread (cold: the first run, whose workers lower the model; warm: a second run on the
same cluster; cluster start-up itself is reported apart, a long-lived cluster pays it
once); and the disk cache (a second run reading every result back).  Every executor
must return the in-process rows exactly (the run aborts otherwise).

Model default: the shared TFC (../shared or $BNNCC_SHARED).  The machine's load is
printed with the figures, and for in-process and the pool the CPU seconds spent (this
process and the reaped workers): CPU s / wall s is how many cores the run actually got,
which on a shared machine can be fewer than ``--workers``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bnncc.explore import runner, space  # noqa: E402
from bnncc.resources import shared_dir  # noqa: E402
from bnncc.explore.evaluate import Model, lowered_graph  # noqa: E402


def _default_model() -> Path:
    sh = shared_dir()
    if sh is None:
        sys.exit("no model given and ../shared is absent (or set BNNCC_SHARED)")
    return sh / "models/qonnx_tfc_w1a1/TFC_1W1A.onnx"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=None)
    ap.add_argument("--n", type=int, default=2000, help="configurations (default 2000)")
    ap.add_argument("--targets", default="pynq-z2,ultra96")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--json", dest="json_out", default=None)
    a = ap.parse_args()
    model = Model.from_path(a.model or _default_model())
    ts = space.expand_targets(a.targets.split(","))
    t0 = time.perf_counter()
    graphs = {t.name: lowered_graph(model, t) for t in ts if t.kind == "fpga"}
    items = space.build_space(graphs, ts, a.n)
    print(f"{len(items)} configurations of {a.model or 'TFC'} on {a.targets} "
          f"(space built in {time.perf_counter() - t0:.1f} s); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    results = {}

    def cpu() -> float:
        """CPU seconds of this process and its reaped children (pool workers)."""
        a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    def record(name, rows, st, base=None, cpu_s=None):
        if base is not None:
            strip = lambda rs: [{k: v for k, v in r.items() if k != "cached"} for r in rs]  # noqa: E731
            if strip(rows) != strip(base):
                sys.exit(f"{name}: rows differ from the in-process run")
        results[name] = {"seconds": st["seconds"], "configs_per_s": len(items) / st["seconds"],
                         "workers": st["workers"], "cpu_seconds": cpu_s}
        used = f"  ({cpu_s:.2f} CPU s: {cpu_s / st['seconds']:.2f} cores busy)" if cpu_s is not None else ""
        print(f"{name:30s} {st['seconds']:7.2f} s  {len(items) / st['seconds']:9,.0f} configurations/s{used}")

    c0 = cpu()
    base, st = runner.evaluate_all(model, items, mode="inprocess")
    record("in-process", base, st, cpu_s=cpu() - c0)
    c0 = cpu()
    rows, st = runner.evaluate_all(model, items, mode="pool", workers=a.workers)
    record(f"process pool ({a.workers} workers)", rows, st, base, cpu_s=cpu() - c0)
    if not a.no_dask:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            print("dask.distributed not installed: pip install 'bnncc[explore]'")
        else:
            t0 = time.perf_counter()
            with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=None) as cluster, Client(cluster) as client:
                start = time.perf_counter() - t0
                print(f"(LocalCluster start-up {start:.2f} s)")
                rows, st = runner.evaluate_all(model, items, mode="dask", scheduler=client)
                record(f"dask LocalCluster cold ({a.workers}x1)", rows, st, base)
                rows, st = runner.evaluate_all(model, items, mode="dask", scheduler=client)
                record(f"dask LocalCluster warm ({a.workers}x1)", rows, st, base)
            results["dask_cluster_startup_s"] = start
    with tempfile.TemporaryDirectory() as d:
        runner.evaluate_all(model, items, mode="inprocess", cache=runner.DiskCache(d, "bench"))
        t0 = time.perf_counter()
        rows, st = runner.evaluate_all(model, items, mode="inprocess", cache=runner.DiskCache(d, "bench"))
        st["seconds"] = time.perf_counter() - t0
        record("disk cache (all hits)", rows, st, base)
    if a.json_out:
        Path(a.json_out).write_text(json.dumps({"n": len(items), "targets": a.targets, "results": results},
                                               indent=2) + "\n")


if __name__ == "__main__":
    main()
