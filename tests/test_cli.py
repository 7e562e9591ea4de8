"""The `rnnzoo` command line on a zoo generated for real: info, query, show, verify, refit, figures, help."""

import json
import shutil

import pytest

from rnnzoo.cli import build_parser, main, parse_query


def test_query_terms_parse_into_the_query_language():
    assert parse_query(["delay=50", "lr=1e-2", "mechanism=limit_cycle", "cue_held=false"]) == {
        "delay": 50, "lr": 0.01, "mechanism": "limit_cycle", "cue_held": False}
    assert parse_query(["delay=20,40", "lr=0.01:0.1", "seed=:3", "final_accuracy=0.9:"]) == {
        "delay": [20, 40], "lr": (0.01, 0.1), "seed": (None, 3), "final_accuracy": (0.9, None)}
    with pytest.raises(ValueError, match="COLUMN=VALUE"):
        parse_query(["delay50"])


def test_every_command_has_a_help_text(capsys):
    parser = build_parser()
    text = parser.format_help()
    for command in ("info", "query", "show", "verify", "refit", "figures"):
        assert command in text
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert len(capsys.readouterr().out) > 200
    assert "mechanism" in text and "range" in text  # the epilog explains query values


def test_info_and_query(quick_zoo, capsys):
    assert main(["info", "--source", str(quick_zoo)]) == 0
    out = capsys.readouterr().out
    assert "n_networks: 12" in out and "delay_ms x mechanism" in out and "columns: id, family" in out
    assert main(["query", "--source", str(quick_zoo), "delay=40", "seed=0,1", "--json", "--columns", "id,seed"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and {r["seed"] for r in rows} == {0, 1} and all("d040" in r["id"] for r in rows)
    assert main(["query", "--source", str(quick_zoo), "delay=20:30", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "(6 networks, first 2 shown)" in out and "nopost-d020" in out


@pytest.mark.parametrize("argv, message", [
    (["query", "dely=40"], "unknown column 'dely'"),
    (["query", "delay=50"], "available: 20, 40"),
    (["query", "delay=40", "--columns", "id,nope"], "unknown column(s) nope"),
    (["show", "no-such-network"], "no network"),
])
def test_bad_input_exits_2_with_one_clear_line(quick_zoo, capsys, argv, message):
    assert main([argv[0], "--source", str(quick_zoo), *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.startswith(f"rnnzoo {argv[0]}: error:")


def test_show_writes_a_plot(quick_zoo, tmp_path, capsys):
    out = tmp_path / "plots" / "net.png"
    net_id = "nopost-d020-lr1.000e-01-s000"
    assert main(["show", "--source", str(quick_zoo), net_id, "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert f"wrote {out}" in capsys.readouterr().out


def test_verify_reports_damage(quick_zoo, tmp_path, capsys):
    assert main(["verify", str(quick_zoo)]) == 0
    assert "ok:" in capsys.readouterr().out
    copy = shutil.copytree(quick_zoo, tmp_path / "zoo")
    shard = sorted((copy / "weights").glob("*.safetensors"))[1]
    data = bytearray(shard.read_bytes())
    data[-1] ^= 1
    shard.write_bytes(bytes(data))
    assert main(["verify", str(copy)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL {shard}" in out and "1 problem(s)" in out


def test_figures_writes_the_plots_and_their_numbers(quick_zoo, tmp_path, capsys):
    assert main(["figures", "--source", str(quick_zoo), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"wrote the figures into {tmp_path}; every number is in {tmp_path / 'phases.json'}" in out
    assert "nopost: phase-diagram-nopost.png, critical-rate-nopost.png, manifold-fraction-nopost.png" in out
    assert sorted(p.suffix for p in tmp_path.iterdir()).count(".png") >= 3
    numbers = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert numbers  # the phase numbers lie beside the figures


@pytest.mark.slow
def test_refit_prints_the_report(quick_zoo, capsys):
    assert main(["refit", "--source", str(quick_zoo), "nopost-d020-lr1.000e-01-s000", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["id"] == "nopost-d020-lr1.000e-01-s000" and -1 <= report["weight_corr"] <= 1


def test_version_prints_the_package_version(capsys):
    import rnnzoo

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"rnnzoo {rnnzoo.__version__}"


def test_verify_without_a_folder_checks_the_embedded_sample_and_info_prints_its_path(capsys):
    from rnnzoo.sources import SAMPLE_DIR

    assert main(["verify"]) == 0
    assert f"ok: every file recorded in {SAMPLE_DIR / 'manifest.json'} matches its sha256 (the embedded sample)" \
        in capsys.readouterr().out
    assert main(["info"]) == 0
    assert f"path: {SAMPLE_DIR}\n" in capsys.readouterr().out


@pytest.mark.parametrize("limit", ["-1", "0", "two"])
def test_a_limit_below_one_is_refused_rather_than_dropping_rows(quick_zoo, capsys, limit):
    with pytest.raises(SystemExit) as exit_info:
        main(["query", "--source", str(quick_zoo), "--limit", limit])
    assert exit_info.value.code == 2
    assert "argument --limit:" in capsys.readouterr().err
    assert main(["query", "--source", str(quick_zoo), "delay=40", "--limit", "6", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 6  # every row of the 6 matching: the last one kept


def test_version_answers_without_importing_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom rnnzoo.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["rnnzoo", "0.1.0", "False"]


def test_a_closed_pipe_ends_quietly():
    import subprocess
    import sys

    import rnnzoo

    columns = ",".join(c for c in rnnzoo.load().metadata.columns if c != "checkpoint_steps")  # ~87 KB: over a pipe's buffer
    proc = subprocess.run(f"{sys.executable} -m rnnzoo.cli query --json --columns {columns} | head -c 100; "
                          "exit ${PIPESTATUS[0]}", shell=True, capture_output=True, text=True, executable="/bin/bash")
    assert proc.returncode == 0 and proc.stdout.startswith("[")
    assert proc.stderr == ""


def test_verify_names_a_missing_folder(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "nope")]) == 2
    assert f"there is no folder {tmp_path / 'nope'}" in capsys.readouterr().err


def test_warnings_print_one_line(capsys):
    from rnnzoo.cli import _one_line_warning

    _one_line_warning(RuntimeWarning("overflow in exp"), RuntimeWarning, "x.py", 3)
    assert capsys.readouterr().err == "rnnzoo: warning: overflow in exp\n"


def test_reprs_show_shapes_not_data():
    import rnnzoo
    from rnnzoo.module import RNN

    weights = rnnzoo.load(delay=50)[:2].weights()
    assert repr(weights).startswith("Weights(2 networks of 100 units, torch.float32, cpu: W_in=[2, 100, 2]")
    assert len(repr(weights)) < 200
    assert repr(RNN.from_weights(weights.select(0), 0.5)) == ("RNN(n_units=100, n_inputs=2, n_outputs=2, alpha=0.5, "
                                                              "readout='sigmoid')")
