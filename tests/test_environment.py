"""environment.yml (for people and Binder) lists exactly the dependencies of pyproject.toml."""
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return set(reqs)


def _environment_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert len(pip) == 1, "environment.yml needs exactly one pip: section"
    return {r for r in pip[0]["pip"] if r != "-e ."}


def test_environment_yml_matches_pyproject():
    missing = _pyproject_requirements() - _environment_requirements()
    extra = _environment_requirements() - _pyproject_requirements()
    assert not missing and not extra, f"only in pyproject: {missing}; only in environment.yml: {extra}"


def test_torch_not_pinned_to_the_broken_cpu_wheel():
    torch_req = next(r for r in _pyproject_requirements() if r.startswith("torch>") or r.startswith("torch="))
    assert "2.13" not in torch_req.replace("!=2.13.*", "")
