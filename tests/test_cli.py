"""The `hdredraw` command, the demo, and the README kept in step with the specs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from commands import run_hdredraw as run_cli

from hdredraw.engine import cli, codecs, docs, specs
from hdredraw.engine.demo import run_demo, sample_garment

ROOT = Path(__file__).resolve().parents[1]



def test_readme_operation_table_matches_specs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert docs.replace_block(readme) == readme, "run: python -m hdredraw.engine.docs --write README.md"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0].strip() for b in readme.split("```bash\n")[1:3]]
    assert blocks[0] == "python3 -m pip install . && hdredraw demo"
    assert "pytest" in blocks[1] and "<!-- test-command -->" in readme.split(blocks[1])[0][-60:]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci_lines[-1] == blocks[1]  # CI's last step is the README's test command, verbatim


def test_help_lists_operations_and_fields():
    text = cli.build_parser().format_help()
    assert "demo" in text and "run" in text
    out = run_cli(["run", "--help"]).stdout
    for op in specs.paid_operations():
        assert op.id in out
    out = run_cli(["run", "seamless", "--help"]).stdout
    for f in specs.get("seamless").params:
        assert f"--{f.name}" in out
    assert "0.1-0.9" in out


def test_run_a_batch_of_files_against_the_service(emu, tmp_path):
    emu.processing_time = 0.2
    for i in range(2):
        (tmp_path / f"in{i}.png").write_bytes(codecs.encode_png(sample_garment(64 + 16 * i)))
    env = {"HDREDRAW_BASE_URL": emu.base_url, "HDREDRAW_USER_KEY": emu.user_key}
    out = run_cli(["run", "seamless", str(tmp_path / "in0.png"), str(tmp_path / "in1.png"), "-o",
                   str(tmp_path / "out"), "--direction", "top-bottom"], env=env)
    assert out.returncode == 0, out.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "in0_seamless.png" in names and "in1_seamless_grid.png" in names and "in1_seamless_1x.png" in names
    assert len(emu.submissions) == 2 and emu.submissions[0]["fields"]["direction"] == "1"
    assert emu.user_key not in out.stdout + out.stderr


def test_run_rejects_bad_values_before_sending(emu, tmp_path):
    (tmp_path / "a.png").write_bytes(codecs.encode_png(sample_garment(32)))
    env = {"HDREDRAW_BASE_URL": emu.base_url, "HDREDRAW_USER_KEY": emu.user_key}
    out = run_cli(["run", "redraw", str(tmp_path / "a.png"), "--upscale", "12"], env=env)
    assert out.returncode == 2 and "upscale" in out.stderr and "1 到 8" in out.stderr
    assert emu.requests == []


def test_missing_configuration_is_explained(tmp_path):
    (tmp_path / "a.png").write_bytes(codecs.encode_png(sample_garment(32)))
    out = run_cli(["run", "face_enhance", str(tmp_path / "a.png")],
                  env={"HDREDRAW_CONFIG": str(tmp_path / "none.json")})
    assert out.returncode == 2 and "HDREDRAW_BASE_URL" in out.stderr


def test_config_set_and_show_mask_keys(tmp_path):
    env = {"HDREDRAW_CONFIG": str(tmp_path / "c.json")}
    assert run_cli(["config", "set", "hdredraw_user_key", "abcdefgh-1234-SECRET"], env=env).returncode == 0
    shown = run_cli(["config"], env=env).stdout
    assert "SECRET" not in shown and json.loads(shown)["hdredraw_user_key"]["source"] == "file"
    assert oct(os.stat(tmp_path / "c.json").st_mode & 0o777) == "0o600"


def test_fetch_command(emu, client, tmp_path):
    task = client.run("extract_pattern", sample_garment(64), {})
    env = {"HDREDRAW_BASE_URL": emu.base_url, "HDREDRAW_USER_KEY": emu.user_key}
    out = run_cli(["fetch", task.task_id, "-o", str(tmp_path)], env=env)
    assert out.returncode == 0, out.stderr
    assert len(list(tmp_path.glob("task_*.png"))) == 2 and len(emu.submissions) == 1


def test_demo_runs_the_whole_pipeline(tmp_path, capsys):
    assert run_demo(tmp_path / "demo", processing_time=0.05, status_cache=0) == 0  # the timing is not under test
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert [s["operation"] for s in summary["steps"]] == [
        "extract_pattern", "remove_fabric", "seamless", "vectorize", "hidream_vectorize"]
    assert summary["tasks_submitted"] == 5
    files = {p.name for p in (tmp_path / "demo").iterdir()}
    assert {"03_seamless_grid.png", "04_vectorize_vector.eps", "05_hidream_vectorize.svg", "summary.md"} <= files
    assert summary["seam_jump"] < 2 * summary["neighbour_jump"]
    assert summary["emulated"] is True and "emulator" in summary["note"] and "模拟" in summary["note_zh"]
    assert (tmp_path / "demo" / "summary.md").read_text().startswith("# hdredraw demo (emulated results)")
    assert str(tmp_path / "demo") in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_clean():
    out = subprocess.run(["ruff", "check", str(ROOT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
