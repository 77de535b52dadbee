"""The pre-commit hook as another repository uses it: the README's configuration,
installed by pre-commit from a tagged copy of this checkout, without torch."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import archdsl
from conftest import ROOT, SPECS

README = (ROOT / "README.md").read_text()
# What pre-commit's install of the hook reads: the package, its build and the hook list.
HOOK_REPO_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "archdsl", "specs")


def _readme_config() -> str:
    """The README's .pre-commit-config.yaml."""
    section = README.split("Other repositories can run the same check", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_documented_rev_is_this_version():
    rev = re.search(r"^\s+rev: (\S+)$", _readme_config(), re.M).group(1)
    assert rev == f"v{archdsl.__version__}"
    assert f"rev: {rev}" in (ROOT / ".pre-commit-hooks.yaml").read_text()


_IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
             "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def _git(*args, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=120,
                   env={**os.environ, **_IDENTITY})


def _hook_repo(path: Path, tag: str) -> None:
    """A git repository holding this checkout's package and hook, tagged `tag`."""
    path.mkdir()
    for name in HOOK_REPO_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, path / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, path / name)
    _git("init", "-q", cwd=path)
    _git("add", "-A", cwd=path)
    _git("commit", "-q", "-m", "archdsl", cwd=path)
    _git("tag", tag, cwd=path)


@pytest.mark.slow
def test_pre_commit_installs_the_hook_and_fails_a_broken_spec(tmp_path):
    pytest.importorskip("pre_commit")
    if shutil.which("git") is None:
        pytest.skip("needs git")
    env = {**os.environ, **_IDENTITY, "PRE_COMMIT_HOME": str(tmp_path / "cache")}
    env.pop("PYTHONPATH", None)  # the hook runs the archdsl it installed
    config = _readme_config()
    rev = re.search(r"rev: (\S+)", config).group(1)
    _hook_repo(tmp_path / "archdsl", rev)
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / ".pre-commit-config.yaml").write_text(
        re.sub(r"repo: \S+", f"repo: {tmp_path / 'archdsl'}", config))
    good = (SPECS / "resnet18.yaml").read_text()
    broken = good.replace("conv(planes * k, 3,", "cnv(planes * k, 3,", 1)
    assert broken != good
    (project / "models" / "net.yaml").write_text(broken)
    _git("init", "-q", cwd=project)
    _git("add", "-A", cwd=project)

    def run_hook():
        return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"],
                              cwd=project, env=env, capture_output=True, text=True,
                              timeout=900)

    result = run_hook()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "archdsl check" in result.stdout and "Failed" in result.stdout
    assert "error[E0304]: unknown op or block `cnv`" in result.stdout
    assert "--> models/net.yaml:" in result.stdout
    installed = list((tmp_path / "cache").glob("repo*/py_env-*/lib/python*/site-packages"))
    assert installed and (installed[0] / "archdsl" / "specs" / "resnet50.yaml").is_file()
    assert not (installed[0] / "torch").exists()  # the hook installs the front end only

    (project / "models" / "net.yaml").write_text(good)
    _git("add", "-A", cwd=project)
    result = run_hook()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout
