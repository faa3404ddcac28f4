"""The README's recipes run as written, on a fresh demo vault.

A fenced block is run when an HTML comment right before it says so:
- `<!-- readme-test: demo -->`: the demo command. Its install steps (everything before the last
  `&&`) are what this test's environment already did; the last step, `rq-run`, runs verbatim
  from a copy of `config/` until trades of every instrument are in the vault, then gets SIGINT
  and must exit 0.
- `<!-- readme-test: run -->`: every line, verbatim, in bash, after the demo ran.
- `<!-- readme-test: python -->`: the block, verbatim, in Python, after the demo ran.
- `<!-- readme-test: python needs MOD -->`: the same, skipped with the reason when MOD is not
  installed.
Unmarked blocks (the test command itself, live capture, output samples) are not run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rq_actors.config import load_config

REPO = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"<!-- readme-test: ([a-z ]+?) -->\n```[a-z]*\n(.*?)```", re.S)


def _blocks(kind: str) -> list[tuple[str, str]]:
    text = (REPO / "README.md").read_text()
    return [(mark, body) for mark, body in _BLOCK.findall(text) if mark.split()[0] == kind]


def _env() -> dict[str, str]:
    # The commands run as a user with the venv activated would run them.
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's config/ with the demo run briefly in it."""
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "config", root / "config")
    ((_, body),) = _blocks("demo")
    command = body.strip().split("&&")[-1].strip()
    assert command.startswith("rq-run "), command
    config = load_config(root / command.split()[1])
    trades_root = config.vault_root / "raw" / "okx" / "trades_perps"
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=root,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # SIGINT to the group, as Ctrl-C in a terminal does
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(any((trades_root / i).glob("*.jsonl")) for i in config.instruments):
                break
            time.sleep(0.3)
        time.sleep(2)  # a few more trades and health lines
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "Traceback" not in err.decode()
    return root


def _ids(blocks: list[tuple[str, str]]) -> list[str]:
    return [f"{n}:{body.strip().splitlines()[0][:40]}" for n, (_, body) in enumerate(blocks)]


_SHELL = [line for _, body in _blocks("run") for line in body.splitlines() if line.strip()]
_PYTHON = _blocks("python")


def test_readme_marks_the_recipes() -> None:
    assert len(_blocks("demo")) == 1
    assert len(_SHELL) >= 3 and len(_PYTHON) >= 3


@pytest.mark.parametrize("line", _SHELL)
def test_shell_recipe(demo_dir: Path, line: str) -> None:
    out = subprocess.run(
        ["bash", "-c", line], cwd=demo_dir, env=_env(), capture_output=True, text=True, timeout=120
    )
    # a line may say which exit code it ends with: `cmd   # exit 1 once …`
    want = int(m.group(1)) if (m := re.search(r"# exit (\d+)", line)) else 0
    assert out.returncode == want, out.stderr
    assert out.stdout.strip(), f"{line!r} printed nothing"


@pytest.mark.parametrize(("mark", "body"), _PYTHON, ids=_ids(_PYTHON))
def test_python_recipe(demo_dir: Path, mark: str, body: str) -> None:
    words = mark.split()
    if "needs" in words:
        module = words[words.index("needs") + 1]
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {module}, which is not installed")
    out = subprocess.run(
        [sys.executable, "-c", body], cwd=demo_dir, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
