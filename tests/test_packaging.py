"""The package declares its version once (tinynn.__version__, which pyproject.toml reads), ships
its MIT licence and `py.typed`."""

import ast
import importlib.metadata
from pathlib import Path

import pytest

import tinynn

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_is_declared_once():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tinynn.__version__"}
    # setuptools reads a literal assignment statically, without importing tinynn (or numpy)
    tree = ast.parse((ROOT / "tinynn" / "__init__.py").read_text())
    literals = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and [getattr(t, "id", None) for t in node.targets] == ["__version__"]
                and isinstance(node.value, ast.Constant)]
    assert literals == [tinynn.__version__]


def test_installed_metadata_has_the_same_version():
    assert importlib.metadata.version("tinynn") == tinynn.__version__, (
        "the installed metadata is stale: pip install -e .")


def test_license_and_py_typed_are_shipped():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "2026 the tinynn authors" in (ROOT / "LICENSE").read_text()
    assert (ROOT / "tinynn" / "py.typed").exists()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["tinynn"]
