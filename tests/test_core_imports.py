"""The library's core imports on a machine without the dashboard's packages (a bare GPU
machine has torch but no streamlit, plotly or zennit)."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCKED = ("streamlit", "plotly", "zennit")

SCRIPT = textwrap.dedent(
    f"""
    import importlib.abc
    import sys

    class Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {BLOCKED!r}:
                raise ImportError(f"{{name}} is not installed here")
            return None

    sys.meta_path.insert(0, Blocked())
    import deepad.bench.gpu
    import deepad.cli
    import deepad.export
    import deepad.runs.worker
    import deepad.train.distributed
    from deepad.bench import list_suites
    from deepad.models import list_methods

    assert "gpu" in list_suites()
    assert deepad.cli.main(["--home", sys.argv[1], "methods"]) == 0
    print(",".join(m.name for m in list_methods()))
    assert not any(name.split(".")[0] in {BLOCKED!r} for name in sys.modules)
    """
)


def test_core_imports_without_app_packages(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "home")],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    methods = done.stdout.strip().splitlines()[-1].split(",")
    assert {"ae", "fcdd", "dsebm", "cvdd"} <= set(methods)


def test_the_app_packages_are_an_extra():
    """``pip install deepad`` brings the library and the CLI; ``deepad[app]`` the dashboard."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements):
        return {re.split(r"[<>=!\[; ]", r, maxsplit=1)[0].lower() for r in requirements}

    assert names(project["dependencies"]) & {"streamlit", "plotly"} == set()
    assert {"streamlit", "plotly"} <= names(project["optional-dependencies"]["app"])
    assert ".[app," in (ROOT / "Makefile").read_text()  # make app / make test install it
