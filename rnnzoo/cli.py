"""The `rnnzoo` command line: look into a zoo, query it, plot a network, verify files, refit, make figures."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

DEFAULT_COLUMNS = ["id", "delay_ms", "lr", "seed", "final_accuracy", "final_reliability", "mechanism"]

EPILOG = """query values: 50 (exact), 20,40,60 (any of), 20:100 (range, inclusive; open ends: 20: or :100),
cycle (text; mechanism aliases such as limit_cycle work), true/false. Float columns (lr) match to 1e-3 relative.
examples:
  rnnzoo info
  rnnzoo query delay=50 mechanism=cycle --json
  rnnzoo query --source ORG/NAME delay=100:200 lr=0.1 --limit 5
  rnnzoo show nopost-d050-lr1.000e-01-s000 --out net.png
  rnnzoo verify ./my-zoo
  rnnzoo verify                 (the embedded sample)
  rnnzoo --version"""


def parse_value(text: str) -> Any:
    """A query value from the command line: a,b,c -> list; lo:hi -> range tuple; numbers, booleans, text."""
    if "," in text:
        return [parse_scalar(part) for part in text.split(",") if part != ""]
    if ":" in text and not text.startswith("hf:"):
        low, high = text.split(":", 1)
        return (parse_scalar(low) if low else None, parse_scalar(high) if high else None)
    return parse_scalar(text)


def parse_scalar(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered in {"none", "null"}:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_query(terms: Sequence[str]) -> dict[str, Any]:
    query = {}
    for term in terms:
        key, sep, value = term.partition("=")
        if not sep or not key:
            raise ValueError(f"query terms are COLUMN=VALUE, got {term!r} (e.g. delay=50 mechanism=cycle)")
        query[key] = parse_value(value)
    return query


def positive_int(text: str) -> int:
    """An argparse type for row counts: a whole number of at least 1 (pandas would read -1 as 'all but the last')."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of rows, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value} (leave --limit out to show every row)")
    return value


def _load(args: argparse.Namespace, **query: Any):
    import rnnzoo

    return rnnzoo.load(args.source, revision=args.revision, **query)


def cmd_info(args: argparse.Namespace) -> int:
    zoo = _load(args)
    manifest = zoo.manifest
    keep = ("format_version", "preset", "n_networks", "rnnzoo_version", "torch_version", "created")
    print(f"source: {zoo.source!r}")
    root = getattr(zoo.source, "root", None)
    if root is not None:  # a folder on this machine (the embedded sample included): where its files are
        print(f"path: {root}")
    for key in keep:
        if key in manifest:
            print(f"{key}: {manifest[key]}")
    files = manifest.get("files", {})
    print(f"files: {len(files)} ({sum(r.get('bytes', 0) for r in files.values()) / 2**20:.1f} MiB)")
    meta = zoo.metadata
    if "synthetic" in meta and meta["synthetic"].any():
        print(f"synthetic networks (random weights, benchmark only): {int(meta['synthetic'].sum())}")
    print(f"columns: {', '.join(meta.columns)}")
    print(repr(zoo))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    zoo = _load(args, **parse_query(args.terms))
    meta = zoo.metadata
    columns = args.columns.split(",") if args.columns else [c for c in DEFAULT_COLUMNS if c in meta.columns]
    unknown = [c for c in columns if c not in meta.columns]
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)} in --columns; columns: {', '.join(meta.columns)}")
    shown = meta[columns].head(args.limit) if args.limit is not None else meta[columns]
    if args.json:
        print(shown.to_json(orient="records"))
    else:
        print(shown.to_string(index=False))
        print(f"({len(meta)} networks" + (f", first {len(shown)} shown)" if len(shown) < len(meta) else ")"))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    zoo = _load(args, id=args.id)
    net = zoo[0]
    out = Path(args.out or f"{args.id}.png")
    fig = plot_canonical_trials(net)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    print(f"wrote {out}: outputs and rates of {net.info['id']} on its canonical trials")
    from rnnzoo.analysis import plot_mechanism

    figure = plot_mechanism(net)
    extra = out.with_name(out.stem + "-mechanism" + out.suffix)
    figure.savefig(extra, dpi=120)
    plt.close(figure)
    print(f"wrote {extra}: the mechanism evidence (rnnzoo.plot_mechanism)")
    return 0


def plot_canonical_trials(net) -> "Any":
    """A figure of one network's canonical evaluation: outputs per cue, and unit rates of one trial per cue."""
    import matplotlib.pyplot as plt
    import numpy as np

    task = net.task()
    sim = net.simulate()
    outputs = sim.outputs[0].cpu().numpy()  # [B, T, O]
    rates = sim.rates[0].cpu().numpy()  # [B, T, N]
    cues = task.cues().cpu().numpy()
    time = np.arange(task.n_steps) * task.dt_ms
    window = task.reaction_window
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), constrained_layout=True)
    for cue, colour in ((0, "tab:blue"), (1, "tab:orange")):
        trials = np.flatnonzero(cues == cue)
        choice = outputs[trials, :, 0] - outputs[trials, :, 1]  # +1: answers cue 0, -1: answers cue 1
        axes[0].plot(time, choice.T, color=colour, alpha=0.15, lw=0.7)
        axes[0].plot(time, choice.mean(0), color=colour, lw=2, label=f"cue {cue} trials (mean)")
        first = trials[0]
        image = axes[1 + cue].imshow(rates[first].T, aspect="auto", cmap="viridis", interpolation="nearest",
                                     extent=(time[0], time[-1] + task.dt_ms, rates.shape[2], 0))
        axes[1 + cue].set(title=f"rates, trial {first} (cue {cue})", xlabel="time (ms)", ylabel="unit")
        fig.colorbar(image, ax=axes[1 + cue], fraction=0.046)
    for ax in axes:
        ax.axvspan(window.start * task.dt_ms, window.stop * task.dt_ms, color="grey", alpha=0.15, lw=0)
    axes[0].set(title="outputs (shaded: reaction window)", xlabel="time (ms)", ylabel="output 0 - output 1")
    axes[0].legend(fontsize=7, loc="upper left")
    info = net.info
    fig.suptitle(f"{info['id']}: delay {info['delay_ms']} ms, lr {info['lr']:.3g}, mechanism {info.get('mechanism')}, "
                 f"accuracy {float(sim.accuracy[0]):.3f}")
    return fig


def cmd_verify(args: argparse.Namespace) -> int:
    from rnnzoo.sources import SAMPLE_DIR
    from rnnzoo.verify import verify_zoo

    folder = Path(args.dir) if args.dir is not None else SAMPLE_DIR
    what = str(folder) if args.dir is not None else f"the embedded sample ({folder})"
    if not folder.exists():
        raise FileNotFoundError(f"there is no folder {folder}; name a zoo folder (one with a manifest.json), or no "
                                "folder for the embedded sample")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file; name a zoo folder (one with a manifest.json)")
    problems = verify_zoo(folder)
    if problems:
        for problem in problems:
            print(f"FAIL {problem}")
        print(f"{len(problems)} problem(s) in {what}")
        return 1
    print(f"ok: every file recorded in {folder / 'manifest.json'} matches its sha256"
          + ("" if args.dir is not None else " (the embedded sample)"))
    return 0


def cmd_refit(args: argparse.Namespace) -> int:
    net = _load(args, id=args.id)[0]
    threshold = None if args.threshold.lower() == "none" else float(args.threshold)
    report = net.refit(noise=args.noise, observed_fraction=args.observed_fraction, trials=args.trials,
                       outlier_threshold=threshold)
    row = report.to_dict() if hasattr(report, "to_dict") else report
    if args.json:
        print(json.dumps(row, default=float))
    elif isinstance(row, dict):
        for key, value in row.items():
            print(f"{key}: {value}")
    else:
        print(row)
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    from rnnzoo.figures import make_figures

    from contextlib import nullcontext

    from rnnzoo.folder import FolderLock, inside

    zoo = _load(args)
    out = Path(args.out)
    folder = next((f for f in (out, out.parent) if (f / "manifest.json").is_file() or (f / "generation.json").is_file()),
                  None)  # figures written into a zoo folder: take its lock, never write through a link out of it
    with FolderLock(folder, create=False) if folder is not None else nullcontext():
        if folder is not None:
            inside(folder, out)
        result = make_figures(zoo, out)
    print(f"wrote the figures into {args.out}; every number is in {result['json']}")
    for family, paths in result["figures"].items():
        print(f"{family}: " + ", ".join(Path(p).name for p in paths.values()))
        s = result["results"][family]["summary"]
        if s.get("critical_exponent") is not None:
            lo, hi = (f"{v:.2f}" if isinstance(v, float) else str(v) for v in s["critical_exponent_ci"])
            delays = ", ".join(f"{d:g}" for d in s["critical_fit_delays_ms"])
            print(f"  critical lr ({s['critical_estimator']} estimator) ~ T^{s['critical_exponent']:.2f}, "
                  f"95% bootstrap CI [{lo}, {hi}], over delays {delays} ms")
        for key, name in (("reference_no_learning_exponent", "reference no-learning fit"),
                          ("reference_slow_point_exponent", "reference slow-point fit")):
            if s.get(key) is not None:
                print(f"  {name} ~ T^{s[key]:.2f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnzoo", description="Query, inspect, verify and refit the RNN zoo (trained short-term-memory RNNs).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from rnnzoo import __version__

    parser.add_argument("--version", action="version", version=f"rnnzoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_source(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--source", default=None,
                       help="zoo folder, Hugging Face dataset ORG/NAME or hf://datasets/ORG/NAME (default: the "
                            "embedded sample)")
        p.add_argument("--revision", default=None, help="Hub commit, branch or tag to pin (default: main)")
        return p

    with_source(sub.add_parser("info", help="what a source holds: format, size, columns, networks per delay x "
                                            "mechanism", description="Print what a zoo source holds."))
    q = with_source(sub.add_parser("query", help="list the networks matching COLUMN=VALUE terms (a table or --json)",
                                   description="List networks matching every COLUMN=VALUE term.", epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    q.add_argument("terms", nargs="*", help="COLUMN=VALUE terms, e.g. delay=50 mechanism=cycle lr=0.01:0.1")
    q.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    q.add_argument("--columns", default=None, help=f"comma-separated columns to show (default: {','.join(DEFAULT_COLUMNS)})")
    q.add_argument("--limit", type=positive_int, default=None, help="show at most this many rows (1 or more)")
    s = with_source(sub.add_parser("show", help="plot one network's outputs and rates on its canonical trials",
                                   description="Simulate one network on its canonical trials and write a plot."))
    s.add_argument("id", help="network id, e.g. nopost-d050-lr1.000e-01-s000 (see `rnnzoo query`)")
    s.add_argument("--out", default=None, help="image file to write (default: ID.png)")
    v = sub.add_parser("verify", help="check every file of a zoo folder against the sha256 in its manifest",
                       description="Check every file of a zoo folder (default: the embedded sample) against its "
                                   "manifest; exit 1 on any problem.")
    v.add_argument("dir", nargs="?", default=None, help="zoo folder (default: the embedded sample, whose path "
                                                        "`rnnzoo info` prints)")
    r = with_source(sub.add_parser("refit", help="refit one network with CORNN from its own simulated activity",
                                   description="Simulate a network, refit it with CORNN, print the refit's quality."))
    r.add_argument("id", help="network id")
    r.add_argument("--noise", type=float, default=0.0,
                   help="std of the observation noise added to the recorded rates (default 0)")
    r.add_argument("--observed-fraction", type=float, default=1.0,
                   help="share of the units recorded, in (0, 1] (default 1: all)")
    r.add_argument("--threshold", default="1",
                   help="CORNN outlier threshold on the weighted residual (default 1, measured safe; 'none' keeps "
                        "every residual)")
    r.add_argument("--trials", type=int, default=256, help="trials simulated; every 5th is held out (default 256)")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    f = with_source(sub.add_parser("figures", help="make the paper's figures from a zoo into a folder",
                                   description="Make the figures (rnnzoo.figures.make_figures) into --out."))
    f.add_argument("--out", required=True, help="folder to write the figures into")
    return parser


COMMANDS = {"info": cmd_info, "query": cmd_query, "show": cmd_show, "verify": cmd_verify, "refit": cmd_refit,
            "figures": cmd_figures}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command like a Unix tool: errors print one line naming the problem (exit status 2), never a
    traceback; warnings print one line each; a closed pipe (`rnnzoo info | head`) ends quietly."""
    import warnings

    args = build_parser().parse_args(argv)
    warnings.showwarning = _one_line_warning
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except (ValueError, LookupError, OSError, RuntimeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"rnnzoo {args.command}: error: {message}", file=sys.stderr)
        return 2


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"rnnzoo: warning: {message}", file=file or sys.stderr)


def _silence_stdout() -> None:
    """After the reader of our stdout went away: point stdout at /dev/null so the interpreter's final flush does
    not raise again (the recipe of Python's signal documentation)."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
