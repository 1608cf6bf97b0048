#!/usr/bin/env bash
# Binder readiness without Docker: what repo2docker would do, in a fresh venv.
#   bash benchmarks/check_binder.sh        (make binder-check, and tests/test_binder_files.py; a full install,
#                                           about 45 s from a warm pip cache)
# 1. a fresh venv gets binder/environment.yml's pip pins (repo2docker's conda part gives python 3.11);
# 2. binder/postBuild runs from a copy of the repository, as repo2docker runs it;
# 3. binder/start exports the quiet-TensorFlow settings and execs its arguments;
# 4. JupyterLab started through binder/start serves the badge's urlpath (notebook 00), with the
#    news prompt switched off, and notebook 00 executes in that environment.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d "${TMPDIR:-/tmp}/qgan-binder-check.XXXXXX")"
echo "binder check in $work"
python3 -m venv "$work/env"
export PATH="$work/env/bin:$PATH"
python -m pip install -q --upgrade pip
sed -n 's/^ *- \([A-Za-z0-9_.-]*\(\[[a-z,]*\]\)\{0,1\}==[^ ]*\) *$/\1/p' binder/environment.yml > "$work/requirements.txt"
python -m pip install -q --no-compile -r "$work/requirements.txt"  # no .pyc up front: 29 s, not 80 s (warm cache)

mkdir "$work/repo"
git ls-files -z | xargs -0 cp --parents -t "$work/repo"  # the tracked files, as a clone has them
cd "$work/repo"
bash binder/postBuild
binder/start python - <<'PY'
import json, os, sys
from pathlib import Path

assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2" and os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0", "binder/start"
import qgan_lab

assert Path(qgan_lab.__file__).resolve().is_relative_to(Path.cwd()), qgan_lab.__file__
settings = Path(sys.prefix) / "share/jupyter/lab/settings/overrides.json"
assert json.loads(settings.read_text())["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
print("postBuild and start: ok (qgan_lab from the repository, lab settings in", settings.parent, ")")
PY

urlpath="$(sed -n 's/.*urlpath=\([^)]*\)).*/\1/p' README.md | head -1)"
port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
allow_root=(); [ "$(id -u)" = 0 ] && allow_root=(--allow-root)
binder/start jupyter lab --no-browser --ip=127.0.0.1 --port="$port" --IdentityProvider.token= "${allow_root[@]}" \
  > "$work/lab.log" 2>&1 &
lab_pid=$!
trap 'kill "$lab_pid" 2>/dev/null || true' EXIT
python - "$port" "$urlpath" <<'PY'
import json, sys, time, urllib.request

port, urlpath = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"
for _ in range(120):
    try:
        urllib.request.urlopen(f"{base}/api/status", timeout=2)
        break
    except OSError:
        time.sleep(0.5)
assert urlpath == "lab/tree/notebooks/00_welcome.ipynb", urlpath
page = urllib.request.urlopen(f"{base}/{urlpath}", timeout=10)
notebook = urllib.request.urlopen(f"{base}/api/contents/{urlpath.removeprefix('lab/tree/')}?content=0", timeout=10)
assert page.status == 200 and notebook.status == 200
settings = urllib.request.urlopen(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification", timeout=10)
assert json.load(settings)["schema"]["properties"]["fetchNews"]["default"] == "false", "news prompt still on"
print(f"badge urlpath {urlpath}: served; news prompt off")
PY
QGAN_LAB_FAST=1 binder/start jupyter nbconvert --to notebook --execute notebooks/00_welcome.ipynb --output-dir "$work/out" 2>&1 | tail -1
rm -rf "$work"  # a full environment (about 2 GB); kept where a step failed
echo "binder check passed"
