"""pyproject.toml, environment.yml and binder/ must name the same packages, compatibly."""

import re
from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def pip_pins(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = {}
    for line in pip_section:
        if line.startswith("-"):
            continue  # -e .
        req = Requirement(line)  # e.g. ray[tune]==2.60.0: the package ray
        pins[canonicalize_name(req.name)] = str(req.specifier).removeprefix("==")
    return pins


def conda_python(path: Path) -> str:
    env = yaml.safe_load(path.read_text())
    return next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))


def project_requirements() -> dict[str, Requirement]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in ("lab", "dev", "sweep"):
        reqs += meta["optional-dependencies"][extra]
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in reqs}


def test_binder_and_root_environment_pin_the_same_versions():
    binder, root = pip_pins(ROOT / "binder" / "environment.yml"), pip_pins(ROOT / "environment.yml")
    assert binder == root
    assert conda_python(ROOT / "binder" / "environment.yml") == conda_python(ROOT / "environment.yml") == "python=3.11"


def test_every_project_requirement_is_pinned_inside_its_range():
    pins = pip_pins(ROOT / "binder" / "environment.yml")
    for name, req in project_requirements().items():
        if req.marker is not None and not req.marker.evaluate():
            continue  # e.g. tomli on Python < 3.11 only
        assert name in pins, f"{name} is required by pyproject.toml but not pinned for Binder"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} outside {req.specifier}"
    extra = set(pins) - set(project_requirements())
    assert not extra, f"pinned for Binder but not declared in pyproject.toml: {extra}"


def test_root_environment_installs_the_repository_and_binder_post_build_does_too():
    root_env = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*- -e \.$", root_env, re.M)
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install" in post_build and "-e ." in post_build


def test_installed_versions_are_the_pins():
    from importlib.metadata import version

    for name, pinned in pip_pins(ROOT / "binder" / "environment.yml").items():
        assert version(name) == pinned, f"{name}: installed {version(name)}, pinned {pinned}"


def test_readme_binder_badge_opens_the_welcome_notebook():
    readme = (ROOT / "README.md").read_text()
    assert "mybinder.org/v2/" in readme and "urlpath=lab/tree/notebooks/00_welcome.ipynb" in readme
    assert "make lab" in readme and "make test" in readme
