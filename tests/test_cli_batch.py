"""`hdredraw run` as a batch tool: folders and globs, output names, nothing overwritten, dry run, summary,
progress on a terminal and off it, JSON records.  Every test runs the real command in its own process
against the emulator over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from commands import run_hdredraw as cli

from hdredraw.engine import codecs, config
from hdredraw.engine.demo import sample_garment
from hdredraw.engine.journal import Journal

ROOT = Path(__file__).resolve().parents[1]



def picture(path: Path, seed: int, size: int = 40, fmt: str | None = None) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(codecs.to_uint8(sample_garment(size, seed=seed))).save(path, format=fmt)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_names_in_different_folders_each_get_their_own_file(emu, env, tmp_path):
    picture(tmp_path / "d1" / "x.png", 1)
    picture(tmp_path / "d2" / "x.png", 2)
    picture(tmp_path / "d2" / "x.jpg", 3)
    out = cli(["run", "remove_watermark", "d1/x.png", "d2/x.png", "d2/x.jpg", "-o", "out"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    files = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert files == ["d1/x_remove_watermark.png", "d2/x_jpg_remove_watermark.png", "d2/x_png_remove_watermark.png"]
    assert len(emu.submissions) == 3 and len({sha(tmp_path / "out" / f) for f in files}) == 3  # three paid results


def test_an_existing_file_is_never_replaced_unless_asked(emu, env, tmp_path):
    picture(tmp_path / "a.png", 1)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a_seamless_grid.png").write_bytes(b"my own file")
    out = cli(["run", "seamless", "a.png", "-o", "out"], env, tmp_path)
    assert out.returncode == 2 and "--overwrite" in out.stderr and "覆盖" in out.stderr
    assert emu.requests == []  # refused before anything was sent
    assert (tmp_path / "out" / "a_seamless_grid.png").read_bytes() == b"my own file"

    out = cli(["run", "seamless", "a.png", "-o", "out", "--overwrite"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "out" / "a_seamless_grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "(replaced)" in out.stdout


def test_the_same_command_again_submits_nothing_and_leaves_the_files_alone(emu, env, tmp_path):
    for i in range(3):
        picture(tmp_path / "photos" / f"p{i}.png", i)
    first = cli(["run", "seamless", "photos", "-o", "out"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    assert len(stamps) == 9 and len(emu.submissions) == 3
    again = cli(["run", "seamless", "photos", "-o", "out"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(emu.submissions) == 3  # nothing new
    assert "reused 3" in again.stdout and "nothing charged" in again.stdout and "already there, same" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()} == stamps


def test_a_reused_result_is_written_beside_a_different_file_never_over_it(emu, env, tmp_path):
    picture(tmp_path / "a.png", 1)
    assert cli(["run", "face_enhance", "a.png", "-o", "out"], env, tmp_path).returncode == 0
    (tmp_path / "out" / "a_face_enhance.png").write_bytes(b"edited by hand")
    out = cli(["run", "face_enhance", "a.png", "-o", "out"], env, tmp_path)  # reused: nothing to pay, so it runs
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "out" / "a_face_enhance.png").read_bytes() == b"edited by hand"
    assert (tmp_path / "out" / "a_face_enhance-2.png").read_bytes()[:4] == b"\x89PNG"
    assert "a_face_enhance.png exists and was kept" in out.stdout and len(emu.submissions) == 1


def test_output_location_is_checked_before_anything_is_sent(emu, env, tmp_path):
    picture(tmp_path / "a.png", 1)
    (tmp_path / "taken.png").write_bytes(b"a file")
    out = cli(["run", "face_enhance", "a.png", "-o", "taken.png"], env, tmp_path)
    assert out.returncode == 2 and "is a file" in out.stderr and "是一个文件" in out.stderr
    out = cli(["run", "face_enhance", "a.png", "-o", "result.png"], env, tmp_path)
    assert out.returncode == 2 and "looks like a file name" in out.stderr
    assert not (tmp_path / "result.png").exists()
    assert "Traceback" not in out.stderr and emu.requests == []


def test_folders_recursion_globs_and_the_output_folder_inside_the_inputs(emu, env, tmp_path):
    photos = tmp_path / "photos"
    picture(photos / "a.png", 1)
    picture(photos / "b.jpg", 2)
    picture(photos / "sub" / "c.tif", 3, fmt="TIFF")
    picture(photos / ".hidden.png", 4)
    (photos / "notes.txt").write_text("not an image")
    out = cli(["run", "remove_fabric", "photos", "-o", "photos/out"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(emu.submissions) == 2  # a.png, b.jpg: not sub/ without -r, not hidden, not the text file
    out = cli(["run", "remove_fabric", "photos", "-r", "-o", "photos/out"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(emu.submissions) == 3  # c.tif is new; a and b reused; photos/out is never read as input
    assert (photos / "out" / "sub" / "c_remove_fabric.png").exists()
    out = cli(["run", "remove_fabric", "photos/*.png", "-o", "globbed"], env, tmp_path)  # expanded by the program
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "globbed").iterdir()) == ["a_remove_fabric.png"]
    out = cli(["run", "remove_fabric", "nothing/*.png", "missing.png", "-o", "x"], env, tmp_path)
    assert out.returncode == 2 and "missing.png" in out.stderr


def test_identical_images_are_one_task(emu, env, tmp_path):
    picture(tmp_path / "a.png", 1)
    (tmp_path / "copy.png").write_bytes((tmp_path / "a.png").read_bytes())
    out = cli(["run", "remove_diamonds", "a.png", "copy.png", "-o", "out"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(emu.submissions) == 1
    assert sha(tmp_path / "out" / "a_remove_diamonds.png") == sha(tmp_path / "out" / "copy_remove_diamonds.png")
    assert "done 1" in out.stdout and "reused 1" in out.stdout


def test_spend_guard_counts_the_new_tasks_before_sending(emu, env, tmp_path):
    names = [picture(tmp_path / f"p{i}.png", i).name for i in range(3)]
    out = cli(["run", "face_enhance", *names, "--max-new-tasks", "2", "-o", "out"], env, tmp_path)
    assert out.returncode == 2 and "--max-new-tasks 3" in out.stderr and emu.requests == []
    out = cli(["run", "face_enhance", *names, "--max-new-tasks", "3", "-o", "out"], env, tmp_path)
    assert out.returncode == 0, out.stderr


def test_dry_run_sends_nothing_and_estimates_the_cost_from_learned_prices(emu, env, tmp_path):
    names = [picture(tmp_path / f"p{i}.png", i).name for i in range(5)]
    out = cli(["run", "seamless", *names, "-o", "out", "--dry-run"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert emu.requests == [] and not list((tmp_path / "out").iterdir())
    assert "price not yet known" in out.stdout and out.stdout.count("new task (paid)") == 5

    for name in names[:3]:  # one task after another: each balance step is a clean price sample
        assert cli(["run", "seamless", name, "-o", "out"], env, tmp_path).returncode == 0
    out = cli(["run", "seamless", *names, "-o", "out", "--dry-run"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(emu.submissions) == 3  # still nothing new sent
    assert out.stdout.count("reuse the finished task") == 3 and out.stdout.count("new task (paid)") == 2
    assert "≈ 2 of your task count (estimate from 2 earlier task(s))" in out.stdout


def test_summary_counts_failed_and_uncertain_with_task_ids(emu, env, tmp_path):
    names = [picture(tmp_path / f"p{i}.png", i).name for i in range(3)]
    emu.fail_next("failed")  # the first created task fails on the service
    out = cli(["run", "face_enhance", names[0], "-o", "out"], env, tmp_path)
    failed_id = emu.submissions[0]["task_id"]
    assert out.returncode == 1 and "failed 1" in out.stdout and failed_id in out.stdout
    emu.inject("submit", "500")  # the service may have created it: uncertain, never re-sent
    out = cli(["run", "face_enhance", names[1], names[2], "-o", "out", "--concurrency", "1"], env, tmp_path)
    assert out.returncode == 1
    assert "done 1" in out.stdout and "uncertain 1" in out.stdout and "check your balance" in out.stdout
    done_id = emu.submissions[-1]["task_id"]
    assert f"done: {done_id}" in out.stdout and "Balance reported by the service" in out.stdout


def test_json_records_one_per_input_and_a_summary(emu, env, tmp_path):
    picture(tmp_path / "a.png", 1)
    picture(tmp_path / "b.png", 2)
    out = cli(["run", "vectorize", "a.png", "b.png", "-o", "out", "--json"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]  # stdout holds nothing else
    tasks = [r for r in records if r["type"] == "task"]
    assert sorted(Path(r["input"]).name for r in tasks) == ["a.png", "b.png"]
    assert all(r["status"] == "done" and r["paid"] and r["task_id"] for r in tasks)
    assert all((tmp_path / p).exists() for r in tasks for p in r["outputs"])  # as given: relative to the cwd
    assert any(p.endswith("_vector.eps") for r in tasks for p in r["outputs"])
    summary = records[-1]
    assert summary["type"] == "summary" and summary["counts"]["done"] == 2 and summary["new_paid_tasks"] == 2


def test_plain_lines_when_not_a_terminal(emu, env, tmp_path):
    picture(tmp_path / "a.png", 1)
    out = cli(["run", "face_enhance", "a.png", "-o", "out"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "a.png: Submitting" in out.stderr and "a.png: Queued" in out.stderr
    assert "\x1b[" not in out.stderr + out.stdout  # no terminal codes in a log


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_live_display_on_a_terminal(emu, env, tmp_path):
    import pty

    names = [picture(tmp_path / f"p{i}.png", i).name for i in range(3)]
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "dev.py"), "run", "face_enhance", *names, "-o",
                             "out"], cwd=tmp_path, stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, **env, "TERM": "xterm-256color", "COLUMNS": "120"})
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    assert proc.wait(60) == 0
    text = screen.decode("utf-8", "replace")
    assert "━" in text and "face_enhance 3/3" in text  # rich's bar, with the overall count
    assert "face_enhance: 3 input(s)" in text and "Traceback" not in text


def test_rich_loads_only_for_a_terminal():
    code = ("import io, runpy, sys; runpy.run_path(sys.argv[1])['register']();"
            "from hdredraw.engine import cli, cli_run, console;"
            "console.make_display(['a'], io.StringIO());"
            "print('rich' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "tools" / "dev.py")], capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_journal_keeps_every_task_of_a_batch(emu, env, tmp_path):
    names = [picture(tmp_path / f"p{i}.png", i).name for i in range(4)]
    out = cli(["run", "extract_pattern", *names, "-o", "out", "--aspect_ratio", "4:3"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    journal = Journal(config.data_dir())
    assert sorted(e.task_id for e in journal.recent(10)) == sorted(s["task_id"] for s in emu.submissions)
    assert all(s["fields"]["aspect_ratio"] == "4:3" for s in emu.submissions)
