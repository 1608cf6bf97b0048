"""Binder and the lab: the files, checked cheaply, and the full install (``make binder-check``)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def test_post_build_and_start_are_executable_and_start_quiets_tensorflow_then_execs_its_arguments():
    for name in ("postBuild", "start"):
        assert os.access(BINDER / name, os.X_OK), f"binder/{name} must be executable (git mode 100755)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "TF_ENABLE"))}
    code = "import os; print(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    out = subprocess.run([str(BINDER / "start"), sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.split() == ["2", "0"], out
    assert re.search(r'^exec "\$@"$', (BINDER / "start").read_text(), re.M)


def test_lab_settings_switch_the_news_prompt_off_where_jupyterlab_reads_them():
    import jupyterlab

    overrides = json.loads((BINDER / "overrides.json").read_text())
    schemas = Path(jupyterlab.__file__).parent / "schemas"
    for plugin, values in overrides.items():
        package, name = plugin.split(":")
        schema = json.loads((schemas / package / f"{name}.json").read_text())
        for key, value in values.items():  # every key exists and its value is one the schema allows
            prop = schema["properties"][key]
            allowed = [o["const"] for o in prop.get("oneOf", [])] or [True, False]
            assert value in allowed, (plugin, key, value, allowed)
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    # repo2docker (postBuild) and `make install` put it in <prefix>/share/jupyter/lab/settings/
    post_build = (BINDER / "postBuild").read_text()
    assert "share/jupyter/lab/settings" in post_build and "cp binder/overrides.json" in post_build
    makefile = (ROOT / "Makefile").read_text()
    assert "cp binder/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json" in makefile
    assert "jupyter lab" in makefile and "notebooks/00_welcome.ipynb" in makefile


def test_badge_opens_notebook_00_and_the_file_browser_lists_the_notebooks_in_reading_order():
    badge = re.search(r"\(https://mybinder\.org/v2/gh/[^)]*\)", (ROOT / "README.md").read_text()).group(0)
    urlpath = re.search(r"urlpath=([^)&]*)", badge).group(1)
    assert urlpath == "lab/tree/notebooks/00_welcome.ipynb" and (ROOT / urlpath.removeprefix("lab/tree/")).exists()
    names = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert names[0] == "00_welcome.ipynb" and all(re.fullmatch(r"\d\d_[a-z_]+\.ipynb", n) for n in names), names
    assert len({n[:2] for n in names}) == len(names)  # one notebook per position: name order is reading order


def test_binder_environment_builds_from_the_pins_runs_post_build_and_start_and_opens_notebook_00(tmp_path):
    """What repo2docker does, without Docker (``benchmarks/check_binder.sh``): a fresh venv gets
    ``binder/environment.yml``'s pip pins, ``postBuild`` runs from a copy of the tracked files,
    ``start`` quiets TensorFlow, JupyterLab serves the badge's notebook with the news prompt off,
    and notebook 00 executes there."""
    for tool in ("git", "python3"):
        if shutil.which(tool) is None:
            raise AssertionError(f"{tool} is needed to check the Binder environment")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["TMPDIR"] = str(tmp_path)
    out = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "check_binder.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert out.returncode == 0 and "binder check passed" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]
