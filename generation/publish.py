"""Validate a zoo folder and upload it to a Hugging Face dataset repository.

    python generation/publish.py DIR --repo-id ORG/NAME --dry-run     # validate, render the card, list; no network
    python generation/publish.py DIR --repo-id ORG/NAME               # validate, then upload (HF_TOKEN or `hf auth login`)

Validation: the manifest's format version, every file's sha256 and size, the card (metadata, template sections,
counts, citations, figure), the card's `configs` resolving through `datasets` to the zoo's Parquet files with the
expected schemas, and at most 10,000 files per folder. Nothing is uploaded unless all of it passes.

The card that is uploaded is rendered for the repository (its loading examples name ORG/NAME; generation/card.py
renders them for the local folder) into a staging folder with the manifest that records it (--stage-dir, else a
new temporary folder; --dry-run prints where), and checked again: no placeholder, every table row whole. The zoo
folder itself is left as it is.

What is uploaded: exactly the files the manifest lists, plus the manifest. That includes jobs/ and
generation.json: they are small (about 10 KB a job), they let `rnnzoo verify` pass on a downloaded copy (the
manifest lists them), and they let anyone resume or extend the zoo with generation/run.py without retraining it.
The upload goes in commits of at most --files-per-commit files with huggingface_hub's `create_commit`, data
first and the tables, card and manifest last; files already on the Hub are not uploaded again, so rerunning the
same command after an interruption resumes it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path, PurePosixPath

if __package__ in (None, ""):  # `python generation/publish.py` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow.parquet as pq

from generation.card import card_problems, card_text
from rnnzoo.folder import FolderInUse, FolderLock
from rnnzoo.store import (
    CARD,
    CURVES_SCHEMA,
    MANIFEST,
    NETWORK_SCHEMA,
    NETWORKS_TABLE,
    ZooFormatError,
    card_config_files,
    card_data_files,
    read_card_metadata,
    read_manifest,
    sha256_file,
    write_bytes_atomic,
    write_json_atomic,
)
from rnnzoo.trajectories import TRAJECTORIES_DIR
from rnnzoo.verify import verify_zoo

MAX_FILES_PER_FOLDER = 10_000
LIST_LIMIT = 200  # commits with more files are listed per folder
FIRST = ("weights/", "trajectories/", "curves/", "jobs/", "figures/")  # upload order: data, then tables and card
LAST = (NETWORKS_TABLE, "generation.json", CARD, MANIFEST)


def validate(root: str | os.PathLike, check_datasets: bool = True) -> list[str]:
    """Every problem that should stop a publication (empty when the folder is ready)."""
    root = Path(root)
    if not root.is_dir():
        return [f"{root} is not a folder"]
    try:
        manifest = read_manifest(root)
        problems = verify_zoo(root)
    except ZooFormatError as exc:
        return [str(exc)]
    files = manifest["files"]
    problems += [p for p in card_problems(root, files) if p not in problems]
    if f"{TRAJECTORIES_DIR}/zarr.json" not in files:
        problems.append(f"{root / TRAJECTORIES_DIR} is missing: the zoo predates stored trajectories; re-assemble it "
                        "(rerunning generation/run.py with the same arguments resumes and writes them)")
    folders = Counter(str(PurePosixPath(rel).parent) for rel in files)
    problems += [f"{root / folder} holds {n} files, over the Hub's {MAX_FILES_PER_FOLDER} per folder"
                 for folder, n in folders.items() if n > MAX_FILES_PER_FOLDER]
    if not problems:
        problems += schema_problems(root, files)
    if not problems and check_datasets:
        problems += datasets_problems(root)
    return problems


def schema_problems(root: Path, files: dict) -> list[str]:
    """Each config's Parquet files must carry the zoo's explicit schema (float32 stays float32)."""
    expected = {"networks": NETWORK_SCHEMA, "curves": CURVES_SCHEMA}
    problems = []
    for name, patterns in card_data_files(read_card_metadata(root / CARD)).items():
        for rel in sorted({f for p in patterns for f in card_config_files(root, p) if f in files}):
            try:
                schema = pq.read_schema(root / rel)
            except Exception as exc:  # pyarrow raises several error types for a damaged footer
                problems.append(f"{root / rel} is not readable Parquet ({exc}); re-download or regenerate it")
                continue
            want = expected.get(name)
            if want is not None and not schema.remove_metadata().equals(want):
                have = {f.name: f.type for f in schema}
                missing = [f.name for f in want if f.name not in have]
                extra = [n for n in have if n not in want.names]
                wrong = [f"{f.name}: {have[f.name]} (expected {f.type})" for f in want
                         if f.name in have and have[f.name] != f.type]
                problems.append(f"{root / rel} (config {name!r}) does not have this rnnzoo's schema (missing columns "
                                f"{missing}, unexpected {extra}, other types {wrong}); re-assemble it with the current "
                                "generation code (rerunning generation/run.py with the same arguments resumes)")
    return problems


def datasets_problems(root: Path) -> list[str]:
    """Resolve every config with `datasets` offline, as the Hub's viewer does, without converting any data."""
    import datasets  # a local folder resolves without network

    problems = []
    with tempfile.TemporaryDirectory(prefix="rnnzoo-publish-") as cache:
        try:
            names = datasets.get_dataset_config_names(str(root))
        except Exception as exc:  # datasets raises many error types for a bad card
            return [f"{root / CARD}: `datasets` cannot read its configs ({type(exc).__name__}: {exc})"]
        declared = list(card_data_files(read_card_metadata(root / CARD)))
        if sorted(names) != sorted(declared):
            problems.append(f"{root / CARD}: `datasets` sees configs {names}, the card declares {declared}")
        for name in names:
            try:
                builder = datasets.load_dataset_builder(str(root), name, cache_dir=cache)
                resolved = [f for split in builder.config.data_files.values() for f in split]
            except Exception as exc:
                problems.append(f"{root / CARD}: config {name!r} does not resolve ({type(exc).__name__}: {exc})")
                continue
            if not resolved or any(not str(f).endswith(".parquet") for f in resolved):
                problems.append(f"{root / CARD}: config {name!r} resolves to {resolved}, expected Parquet files")
    return problems


STAGED = (CARD, MANIFEST)  # the files publication rewrites: the card for the repository, the manifest recording it


def stage_card(root: str | os.PathLike, repo_id: str, stage: str | os.PathLike) -> list[str]:
    """Render the card for `repo_id` and the manifest that records it into `stage` (README.md, manifest.json);
    returns the problems of the staged card (empty when it is ready to upload). The zoo folder is not written."""
    root, stage = Path(root), Path(stage)
    manifest = read_manifest(root)
    info = {k: v for k, v in manifest.items() if k not in ("files", "format_version")}
    card = stage / CARD
    write_bytes_atomic(card, card_text(root, info, repo_id=repo_id).encode("utf-8"))
    files = dict(manifest["files"])
    files[CARD] = {"sha256": sha256_file(card), "bytes": card.stat().st_size}
    write_json_atomic(stage / MANIFEST, {**manifest, "files": files})
    return card_problems(root, files, card=card)


def upload_plan(root: str | os.PathLike, files_per_commit: int = 5000) -> list[list[str]]:
    """The files to upload, cut into commits: data folders first, then the tables, the card and the manifest."""
    files = sorted(read_manifest(root)["files"]) + [MANIFEST]

    def rank(rel: str) -> tuple:
        for i, prefix in enumerate(FIRST):
            if rel.startswith(prefix):
                return (0, i, rel)
        return (1, LAST.index(rel) if rel in LAST else -1, rel)

    ordered = sorted(files, key=rank)
    data = [f for f in ordered if rank(f)[0] == 0]
    tail = [f for f in ordered if rank(f)[0] == 1]
    commits = [data[i : i + files_per_commit] for i in range(0, len(data), files_per_commit)]
    return commits + [tail]


def upload(root: str | os.PathLike, repo_id: str, plan: list[list[str]], stage: str | os.PathLike,
           private: bool = False, revision: str | None = None) -> None:
    """Create the dataset repository if needed and upload the plan's commits with `create_commit`: every file from
    the zoo folder except the staged card and manifest (stage_card), which come from `stage`."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from tqdm.auto import tqdm

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    for i, commit in enumerate(tqdm(plan, desc="commits", unit="commit", disable=None)):  # quiet off a terminal
        operations = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(Path(stage if rel in STAGED else root)
                                                                               / rel)) for rel in commit]
        api.create_commit(repo_id=repo_id, repo_type="dataset", operations=operations, revision=revision,
                          commit_message=f"rnnzoo: upload part {i + 1} of {len(plan)} ({len(commit)} files)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo", type=Path, help="a finished zoo folder")
    parser.add_argument("--repo-id", required=True, help="Hugging Face dataset repository, ORG/NAME")
    parser.add_argument("--dry-run", action="store_true", help="validate and list what would be uploaded; no network")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--revision", default=None, help="branch to upload to (default: main)")
    parser.add_argument("--files-per-commit", type=int, default=5000, help="files per commit (default 5000)")
    parser.add_argument("--stage-dir", type=Path, default=None,
                        help="folder to render the card and manifest for the repository into (default: a new "
                             "temporary folder, printed)")
    parser.add_argument("--skip-datasets-check", action="store_true",
                        help="do not resolve the configs with `datasets` (the other checks still run)")
    args = parser.parse_args(argv)
    if args.repo_id.count("/") != 1 or not all(args.repo_id.split("/")):
        parser.error(f"--repo-id must look like ORG/NAME, got {args.repo_id!r}")
    if args.files_per_commit < 1:
        parser.error("--files-per-commit must be at least 1")

    if args.dry_run:  # guarantee no network: huggingface_hub and datasets read these when first imported
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
    try:  # held to the end: no generation, card or figures run may change the folder while it is published
        lock = FolderLock(args.zoo, create=False).__enter__()
    except (FolderInUse, ZooFormatError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return _publish(args)
    finally:
        lock.__exit__()


def _publish(args: argparse.Namespace) -> int:
    problems = validate(args.zoo, check_datasets=not args.skip_datasets_check)
    stage = args.stage_dir or Path(tempfile.mkdtemp(prefix="rnnzoo-publish-"))
    if not problems:
        try:
            problems = stage_card(args.zoo, args.repo_id, stage)
        except ZooFormatError as exc:
            problems = [str(exc)]
    if problems:
        print(f"{args.zoo} is not ready to publish ({len(problems)} problem{'s' * (len(problems) > 1)}):",
              file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    plan = upload_plan(args.zoo, args.files_per_commit)
    sizes = {rel: ((stage if rel in STAGED else args.zoo) / rel).stat().st_size for commit in plan for rel in commit}
    print(f"{args.zoo}: valid (checksums, card, configs). {'Would upload' if args.dry_run else 'Uploading'} "
          f"{len(sizes)} files, {sum(sizes.values()) / 2**20:.1f} MiB, in {len(plan)} commit(s) "
          f"to https://huggingface.co/datasets/{args.repo_id}; the card rendered for it: {stage / CARD}:")
    for i, commit in enumerate(plan):
        print(f"  commit {i + 1}: {len(commit)} files, {sum(sizes[r] for r in commit) / 2**20:.1f} MiB")
        if len(commit) <= LIST_LIMIT:
            for rel in commit:
                print(f"    {rel}  ({sizes[rel]:,} bytes)")
        else:  # thousands of shards: one line per top-level folder
            folders = Counter(rel.split("/")[0] for rel in commit)
            for folder, n in sorted(folders.items()):
                total = sum(sizes[r] for r in commit if r.split("/")[0] == folder)
                print(f"    {folder}/  {n} files, {total / 2**20:.1f} MiB")
    if args.dry_run:
        return 0
    upload(args.zoo, args.repo_id, plan, stage, private=args.private, revision=args.revision)
    print(f"done: https://huggingface.co/datasets/{args.repo_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
