"""Loader speed at full scale: a synthetic 250,000-network zoo in the real layout, measured side by side.

    python benchmarks/bench_loader.py [--networks 250000] [--n-units 50] [--root /tmp/rnnzoo-bench] [--keep]

Builds (or reuses) a zoo of random networks written with rnnzoo.store (safetensors shards of 100 networks, the
Parquet networks table, a manifest with sha256s; every row synthetic=True), then measures in one run:
query latency warm (in process) and cold (a new Python process, and a fresh load in this one); loading 1,000
networks' weights (a query-shaped selection and a random sample) against the same 1,000 networks loaded from one
torch checkpoint file each (torch.save / torch.load(weights_only=True), the layout of older model zoos; used only
here, as the baseline); and resident memory (RSS) against what was asked. Prints ratios; deletes the zoo unless
--keep. Nothing here is asserted: the figures go to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import rnnzoo  # noqa: E402
from generation.presets import ALL_LRS, network_id  # noqa: E402
from rnnzoo import zoo as zoo_module  # noqa: E402
from rnnzoo.dynamics import Weights  # noqa: E402
from rnnzoo.labels import MECHANISMS  # noqa: E402
from rnnzoo.store import (  # noqa: E402
    CURVES_DIR, FORMAT_VERSION, MANIFEST, NETWORKS_TABLE, WEIGHTS_DIR, curves_table, networks_table,
    network_digests, write_json_atomic, write_shard, write_table,
)

SEEDS = 100  # seeds per (family, delay, lr) cell, as in the full preset; a shard holds one (family, delay)
LAYOUT = "shard per (family, delay), sha256 per network"  # a kept zoo of an older layout is rebuilt
CURVE_STEPS = 10  # synthetic curves are short: the loader never reads them here
FAMILIES = (("nopost", 0.0), ("post", 50.0))


def rss_mib() -> float:
    """Resident set size of this process in MiB (from /proc; ru_maxrss is a peak, not a level)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def grid(n_networks: int) -> tuple[list[int], list[float]]:
    """Delays (every 10 ms) and learning rates whose product x 2 families x 100 seeds is n_networks."""
    cells = n_networks // (len(FAMILIES) * SEEDS)
    n_lrs = min(25, cells)
    if cells % n_lrs:
        raise SystemExit(f"--networks must be a multiple of {len(FAMILIES) * SEEDS * n_lrs}")
    return [10 * d for d in range(cells // n_lrs)], list(ALL_LRS[:n_lrs])


def build_zoo(root: Path, n_networks: int, n_units: int) -> None:
    """Write the synthetic zoo with the store's writers; the manifest (written last) marks it complete."""
    delays, lrs = grid(n_networks)
    rng = np.random.default_rng(0)
    columns: dict[str, list] = {}  # columns the store's schema has and this builder does not set stay null
    files: dict[str, dict] = {}
    cells = [(fam, post, d) for fam, post in FAMILIES for d in delays]
    per_shard = SEEDS * len(lrs)  # as generation/presets.py's FULL_SCALE_JOB: one job per (family, delay)
    for job, (family, post, delay) in enumerate(tqdm(cells, desc="building synthetic zoo", unit="shard", mininterval=10)):
        cell_lrs = [lr for lr in lrs for _ in range(SEEDS)]
        seeds = [s for _ in lrs for s in range(SEEDS)]
        ids = [network_id(family, delay, lr, s) for lr, s in zip(cell_lrs, seeds)]
        scale = 1.5 / np.sqrt(n_units)
        weights = Weights(
            W_in=torch.randn(per_shard, n_units, 2), b_in=torch.zeros(per_shard, n_units),
            W_rec=torch.randn(per_shard, n_units, n_units) * scale, b_rec=torch.zeros(per_shard, n_units),
            W_out=torch.randn(per_shard, 2, n_units) / np.sqrt(n_units), b_out=torch.zeros(per_shard, 2))
        shard = f"{WEIGHTS_DIR}/shard-{job:05d}.safetensors"
        curves = f"{CURVES_DIR}/shard-{job:05d}.parquet"
        files[shard] = {"sha256": write_shard(root / shard, weights, ids, {"synthetic": "true"})}
        curve = {k: [rng.random(CURVE_STEPS, dtype=np.float32) for _ in ids]
                 for k in ("loss", "accuracy", "reliability", "grad_norm")}
        files[curves] = {"sha256": write_table(root / curves, curves_table(ids, curve))}
        mechanism = rng.choice(np.array(MECHANISMS), per_shard)
        acc = rng.random(per_shard).astype(np.float32)
        n = per_shard
        row = {"id": ids, "family": [family] * n, "delay_ms": [delay] * n, "lr": cell_lrs,
               "seed": seeds, "n_units": [n_units] * n, "alpha": [0.5] * n,
               "tau_ms": [10.0] * n, "dt_ms": [5.0] * n, "cue_ms": [30.0] * n,
               "reaction_ms": [50.0] * n, "post_ms": [post] * n,
               "weighted_loss": [True] * n, "cue_held": [False] * n, "steps": [1000] * n,
               "final_loss": rng.random(n), "final_accuracy": acc, "final_reliability": acc,
               "train_accuracy": acc, "train_reliability": acc, "mechanism": list(mechanism),
               "label": [MECHANISMS.index(m) for m in mechanism], "psd_ratio": rng.random(n),
               "fluctuation": rng.random(n), "shard": [shard] * n, "row": list(range(n)),
               "weights_sha256": network_digests({k: v.numpy() for k, v in weights.tensors().items()}),
               "curves": [curves] * n, "job": [job] * n, "synthetic": [True] * n}
        for name, values in row.items():
            columns.setdefault(name, []).extend(list(values))
    table = networks_table(columns).sort_by("id")
    files[NETWORKS_TABLE] = {"sha256": write_table(root / NETWORKS_TABLE, table)}
    for rel, record in files.items():
        record["bytes"] = (root / rel).stat().st_size
    write_json_atomic(root / MANIFEST, {"format_version": FORMAT_VERSION, "preset": "synthetic-benchmark",
                                        "synthetic": True, "n_networks": table.num_rows, "n_units": n_units,
                                        "layout": LAYOUT,
                                        "files": files})


def zoo_ready(root: Path, n_networks: int, n_units: int) -> bool:
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return (manifest.get("synthetic") and manifest.get("n_networks") == n_networks and manifest.get("n_units") == n_units
            and manifest.get("layout") == LAYOUT)


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    """Median wall time in seconds of `repeat` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


COLD_SCRIPT = """
import sys, time
from pathlib import Path
def rss():
    return next(int(l.split()[1]) for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS")) / 1024
t0 = time.perf_counter()
import rnnzoo
t1 = time.perf_counter()
rss0 = rss()
zoo = rnnzoo.load(sys.argv[1], delay=int(sys.argv[2]), mechanism="cycle", lr=(1e-2, 1e-1))
t2 = time.perf_counter()
rss1 = rss()
w = zoo.weights()
asked = sum(t.numel() * t.element_size() for t in w.tensors().values()) / 2**20
print(t1 - t0, t2 - t1, len(zoo), rss0, rss1, rss(), asked)
"""


def cold_process(root: Path, delay: int, repeat: int = 3) -> tuple[float, float, int, dict]:
    """Median (import seconds, load+query seconds) over `repeat` new Python processes, and the RSS (MiB) of the
    last one: after import, after load+query, after loading the matches' weights, and the weights' size."""
    imports, loads, n = [], [], 0
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", COLD_SCRIPT, str(root), str(delay)], capture_output=True, text=True,
                             check=True).stdout.split()
        imports.append(float(out[0]))
        loads.append(float(out[1]))
        n = int(out[2])
    memory = dict(zip(("after_import", "after_load_query", "after_weights", "weights_asked"), map(float, out[3:])))
    return statistics.median(imports), statistics.median(loads), n, memory


def save_checkpoints(zoo: rnnzoo.Zoo, folder: Path) -> list[Path]:
    """One torch checkpoint per network (the baseline layout), written from the zoo's own weights."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = zoo.weights()
    paths = []
    for i, net_id in enumerate(zoo.metadata["id"]):
        path = folder / f"{net_id}.pt"
        torch.save({name: t[i].clone() for name, t in weights.tensors().items()}, path)
        paths.append(path)
    return paths


def load_checkpoints(paths: list[Path]) -> Weights:
    states = [torch.load(p, weights_only=True) for p in paths]
    return Weights(**{name: torch.stack([s[name] for s in states]) for name in Weights.names()})


def load_from_zoo(zoo: rnnzoo.Zoo, verify: bool) -> Weights:
    zoo_module._VERIFIED.clear()  # cold checksum state: every shard is hashed again on first use
    zoo.verify = verify
    return zoo.weights()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=250_000)
    parser.add_argument("--n-units", type=int, default=50,
                        help="units per synthetic network (50 keeps 250,000 networks near 3 GB; the paper's 100 "
                             "would need ~10 GB)")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "rnnzoo-bench-loader")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic zoo for the next run")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads for both loaders (1: on a busy shared machine, 2 threads that "
                             "contend for cores make every small torch copy 10-25x slower)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    root, results = args.root, {}

    start = time.perf_counter()
    if zoo_ready(root, args.networks, args.n_units):
        print(f"reusing the synthetic zoo at {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
        build_zoo(root, args.networks, args.n_units)
        print(f"built {args.networks:,} networks at {root} in {time.perf_counter() - start:.0f} s")
    zoo_bytes = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"zoo on disk: {zoo_bytes / 2**30:.2f} GiB, N = {args.n_units} units per network")

    try:
        # ---- query latency ---------------------------------------------------------------------------------
        delays, _ = grid(args.networks)
        mid = delays[len(delays) // 2]
        import_s, cold_s, n_cold, memory = cold_process(root, mid)
        results["cold_process_rss_mib"] = memory
        results["cold_query_new_process_s"] = cold_s
        results["import_rnnzoo_s"] = import_s
        rss_before = rss_mib()
        fresh_s, zoo = timed(lambda: rnnzoo.load(root), repeat=3)
        results["fresh_load_in_process_s"] = fresh_s
        rss_table = rss_mib()
        queries = {
            f"delay={mid}, mechanism=cycle, lr=(1e-2, 1e-1)": dict(delay=mid, mechanism="cycle", lr=(1e-2, 1e-1)),
            "lr=ALL_LRS[3] (float tolerance)": dict(lr=ALL_LRS[3] * (1 + 1e-5)),
            "delay=[3 delays], family=post": dict(delay=delays[:3], family="post"),
            "final_accuracy=callable > 0.9": dict(final_accuracy=lambda s: s > 0.9),
            "id=one network": dict(id=zoo.metadata["id"].iloc[123_456 % len(zoo)]),
        }
        warm = {}
        for label, query in queries.items():
            warm[label], _ = timed(lambda q=query: zoo.filter(**q), repeat=20)
        results["warm_query_s"] = warm

        # ---- 1,000 networks: zoo shards vs one checkpoint per network --------------------------------------
        shaped = zoo.filter(delay=mid, family="nopost", lr=list(ALL_LRS[:10]))  # 10 learning rates x 100 seeds: one shard
        scattered = zoo.sample(1000, seed=0)  # the worst case: ~1,000 rows scattered over every shard
        with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
            for name, part in (("query-shaped", shaped), ("random sample", scattered)):
                paths = save_checkpoints(part, Path(tmp) / name.replace(" ", "-"))
                rss0 = rss_mib()
                verified_s, w = timed(lambda p=part: load_from_zoo(p, True), repeat=3)
                rss_weights = rss_mib() - rss0
                sizes_s, w2 = timed(lambda p=part: load_from_zoo(p, False), repeat=3)
                checkpoint_s, baseline = timed(lambda ps=paths: load_checkpoints(ps), repeat=3)
                assert torch.equal(w.W_rec, baseline.W_rec) and torch.equal(w2.W_rec, baseline.W_rec)
                asked = sum(t.numel() * t.element_size() for t in w.tensors().values())
                results[f"1000_{name}"] = {
                    "networks": len(part), "shards": int(part.metadata["shard"].nunique()),
                    "zoo_verified_s": verified_s, "zoo_sizes_only_s": sizes_s, "checkpoints_s": checkpoint_s,
                    "speedup_verified": checkpoint_s / verified_s, "speedup_sizes_only": checkpoint_s / sizes_s,
                    "weights_mib": asked / 2**20, "rss_growth_mib": rss_weights,
                }
                del w, w2, baseline
        results["rss_mib"] = {"before_load": rss_before, "after_table": rss_table, "end": rss_mib(),
                              "zoo_on_disk": zoo_bytes / 2**20}
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
            print(f"deleted {root} (pass --keep to reuse it)")

    report(results, args, n_cold)
    return 0


def report(r: dict, args: argparse.Namespace, n_cold: int) -> None:
    print(f"\n== rnnzoo loader benchmark: {args.networks:,} synthetic networks, N = {args.n_units} ==")
    print(f"cold query, new process (load + query, {n_cold} matches): {r['cold_query_new_process_s'] * 1e3:8.1f} ms"
          f"   target < 2000 ms   (import rnnzoo itself: {r['import_rnnzoo_s'] * 1e3:.0f} ms)")
    print(f"fresh load in process (manifest + table):             {r['fresh_load_in_process_s'] * 1e3:8.1f} ms")
    for label, seconds in r["warm_query_s"].items():
        print(f"warm query {label:<45} {seconds * 1e3:8.2f} ms   target < 50 ms")
    for name in ("query-shaped", "random sample"):
        x = r[f"1000_{name}"]
        print(f"1,000 networks, {name} ({x['networks']} networks in {x['shards']} shards, {x['weights_mib']:.1f} MiB):")
        print(f"    zoo, sha256-verified on first use {x['zoo_verified_s'] * 1e3:8.1f} ms   "
              f"{x['speedup_verified']:6.1f}x faster than checkpoints   target >= 20x")
        print(f"    zoo, sizes checked only           {x['zoo_sizes_only_s'] * 1e3:8.1f} ms   "
              f"{x['speedup_sizes_only']:6.1f}x faster than checkpoints")
        print(f"    one torch checkpoint per network  {x['checkpoints_s'] * 1e3:8.1f} ms")
        print(f"    RSS growth while loading: {x['rss_growth_mib']:.1f} MiB for {x['weights_mib']:.1f} MiB asked")
    c = r["cold_process_rss_mib"]
    print(f"RSS of a new process: {c['after_import']:.0f} MiB after import, +{c['after_load_query'] - c['after_import']:.0f}"
          f" MiB after load + query (the {args.networks:,}-row table), +{c['after_weights'] - c['after_load_query']:.0f} MiB after "
          f"loading the {n_cold} matches' weights ({c['weights_asked']:.1f} MiB asked)")
    m = r["rss_mib"]
    print(f"RSS: {m['before_load']:.0f} MiB before load, {m['after_table']:.0f} MiB with the table and zoo objects, "
          f"{m['end']:.0f} MiB at the end; the zoo on disk is {m['zoo_on_disk']:.0f} MiB")
    print(json.dumps(r, default=float))


if __name__ == "__main__":
    sys.exit(main())
