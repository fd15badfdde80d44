"""Help, messages and the README's command-line section: each says what a new user needs, and every command
the README shows really runs (against the emulator, in its own process)."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from commands import run_hdredraw as cli

from hdredraw.engine import codecs, config, errors, jobs, specs
from hdredraw.engine.demo import sample_garment
from hdredraw.engine.journal import Journal

ROOT = Path(__file__).resolve().parents[1]
DEV = [sys.executable, str(ROOT / "tools" / "dev.py")]



def test_run_help_lists_each_operation_once():
    text = cli(["run", "--help"]).stdout
    for op in specs.paid_operations():
        assert len(re.findall(rf"\b{op.id}\b", text)) == 1, op.id
    assert "check_task_status" not in text and "hdredraw fetch" in text


def test_emulator_help_names_the_key_and_token_it_accepts():
    text = cli(["emulator", "--help"]).stdout
    assert "emulator-key" in text and "emulator-token" in text and "HDREDRAW_BASE_URL" in text


def test_fetch_finds_hidream_tasks_or_says_how(emu, env, tmp_path, make_settings):
    client = jobs.Client(make_settings())  # submitted elsewhere: this machine's journal does not know it
    task_id = client.run("hidream_vectorize", sample_garment(32), {"mode": "fast"}).task_id
    client.close()
    out = cli(["fetch", task_id, "-o", "out"], env, tmp_path)
    assert out.returncode == 2 and "--service hidream" in out.stderr and "Traceback" not in out.stderr
    out = cli(["fetch", task_id, "--service", "hidream", "-o", "out"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "out" / f"task_{task_id}.svg").exists()

    (tmp_path / "a.png").write_bytes(codecs.encode_png(sample_garment(32, seed=3)))
    assert cli(["run", "hidream_vectorize", "a.png", "--mode", "fast", "-o", "svg"], env, tmp_path).returncode == 0
    own = Journal(config.data_dir()).recent(1)[0].task_id
    out = cli(["fetch", own, "-o", "again"], env, tmp_path)  # the journal knows its service
    assert out.returncode == 0, out.stderr


def test_a_timeout_tells_command_line_users_what_to_run(emu, env, tmp_path):
    emu.processing_time = 30
    (tmp_path / "a.png").write_bytes(codecs.encode_png(sample_garment(32)))
    out = cli(["run", "face_enhance", "a.png", "-o", "out"], {**env, "HDREDRAW_TIMEOUT": "1"}, tmp_path)
    task_id = emu.submissions[0]["task_id"]
    assert out.returncode == 1
    assert f"hdredraw fetch {task_id}" in out.stdout and "Fetch Task" not in out.stdout + out.stderr
    assert "Fetch Task" in errors.timeout_error(task_id, 1).en  # ComfyUI users still get the node's name


@pytest.mark.parametrize("url", ["ftp://example.com/cb", "https://", "example.com/cb", "http://exa mple.com"])
def test_notify_url_must_be_http_with_a_host(emu, env, tmp_path, url):
    (tmp_path / "a.png").write_bytes(codecs.encode_png(sample_garment(32)))
    out = cli(["run", "hidream_vectorize", "a.png", "--notify_url", url, "-o", "out"], env, tmp_path)
    assert out.returncode == 2 and "notify_url" in out.stderr and emu.requests == []


def test_notify_url_that_is_fine_is_sent():
    op = specs.get("hidream_vectorize")
    values = op.validate({"notify_url": " https://example.com/hook?x=1 "})
    assert op.wire_fields(values)["notify_url"] == "https://example.com/hook?x=1"


def test_https_against_a_plain_http_server_is_not_called_a_certificate_problem(emu, env, tmp_path):
    (tmp_path / "a.png").write_bytes(codecs.encode_png(sample_garment(32)))
    wrong = {**env, "HDREDRAW_BASE_URL": emu.base_url.replace("http://", "https://")}
    out = cli(["run", "face_enhance", "a.png", "-o", "out"], wrong, tmp_path)
    assert out.returncode == 1
    assert "plain HTTP" in out.stdout and "http://" in out.stdout and "certificate" not in out.stdout.lower()
    assert emu.submissions == []


# --------------------------------------------------------------------------- the README's commands

def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- cli-commands", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [re.sub(r"\s+#\s.*$", "", line).strip() for line in block.splitlines() if line.strip()]


def test_readme_table_names_commands_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- operations:begin -->", 1)[1].split("<!-- operations:end -->", 1)[0]
    commands = re.findall(r"\| `(hdredraw [^`]+)` \|", table)
    assert "hdredraw run check_task_status" not in commands and "hdredraw fetch TASK_ID" in commands
    assert "hdredraw render-svg" in commands and "Render SVG" in table
    from hdredraw.engine.cli import build_parser

    parser = build_parser()  # the command's own parser, in this process: what --help would print
    for command in commands:
        words = [w for w in command.split()[1:] if w != "TASK_ID"]
        with pytest.raises(SystemExit) as done:
            parser.parse_args([*words, "--help"])
        assert done.value.code == 0, command


@pytest.mark.long
def test_every_command_in_the_readme_runs(emu, env, tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    from PIL import Image

    for i, name in enumerate(["p1.png", "p2.jpg", "sub/p3.tif"]):
        Image.fromarray(codecs.to_uint8(sample_garment(40, seed=i))).save(photos / name)
    (tmp_path / "a.png").write_bytes(codecs.encode_png(sample_garment(40, seed=7)))
    Image.fromarray(codecs.to_uint8(sample_garment(40, seed=8))).save(tmp_path / "b.tif")
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="32">'
                                       '<rect width="64" height="32" fill="#c33"/></svg>')
    ran = []
    for line in readme_commands():
        assert line.startswith("hdredraw ")
        words = shlex.split(line)[1:]
        if words[0] == "emulator":
            _run_the_emulator(words, tmp_path)
            ran.append(words[0])
            continue
        target = None
        if ">" in words:
            at = words.index(">")
            words, target = words[:at], tmp_path / words[at + 1]
        if "TASK_ID" in words:
            words[words.index("TASK_ID")] = Journal(config.data_dir()).recent(1, "done")[0].task_id
        out = cli(words, env, tmp_path)
        assert out.returncode == 0, f"{line}\n{out.stdout}\n{out.stderr}"
        assert "Traceback" not in out.stderr
        if target is not None:
            target.write_text(out.stdout)
        ran.append(words[0])
    assert {"emulator", "run", "tasks", "fetch", "render-svg"} <= set(ran)
    assert (tmp_path / "out" / "sub" / "p3_seamless.png").exists() and (tmp_path / "out" / "logo.png").exists()
    records = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert records[-1]["type"] == "summary" and records[-1]["counts"]["done"] == 2


def _run_the_emulator(words: list[str], cwd: Path) -> None:
    """`hdredraw emulator --port P` serves until Ctrl-C (on a free port here, not the README's 8765)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    words = [str(port) if w == "8765" else w for w in words]
    proc = subprocess.Popen([*DEV, *words, "--quiet"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        banner = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in banner
        state = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/__emulator__", timeout=10).read())
        assert state["emulator"] == "ComfyUI-HDRedraw"
    finally:
        if sys.platform == "win32":
            proc.terminate()
        else:
            proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert sys.platform == "win32" or proc.returncode == 0
