"""Standing rules of the project, checked on its own files."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_exactly_the_readme_test_command() -> None:
    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    test_command = blocks[1].strip()
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_nothing_in_the_package_pickles() -> None:
    forbidden = re.compile(
        r"\b(import (pickle|joblib|dill|cloudpickle)|allow_pickle\s*=\s*True|safe_mode\s*=\s*False)"
    )
    offenders = [
        f"{path.name}:{number}"
        for path in (ROOT / "rnncast").glob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if forbidden.search(line)
    ]
    assert offenders == []


def _runtime_imports(tree: ast.AST) -> set[str]:
    """Top-level package names imported outside ``if TYPE_CHECKING:`` blocks."""
    names: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
        names |= _runtime_imports(node)
    return names


def test_only_the_backend_module_imports_tensorflow_or_keras() -> None:
    """TensorFlow's import costs seconds: one module owns it, so start-up paths stay fast."""
    modules = {
        path.name
        for path in (ROOT / "rnncast").glob("*.py")
        if _runtime_imports(ast.parse(path.read_text())) & {"tensorflow", "keras"}
    }
    assert modules == {"backend.py"}


def test_the_readme_troubleshoots_every_failure_exit_code() -> None:
    from rnncast.errors import ExitCode

    readme = (ROOT / "README.md").read_text()
    troubleshooting = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    for code in ExitCode:
        if code in (ExitCode.OK, ExitCode.INTERNAL, ExitCode.LOCKED):
            continue  # success, bugs, and the lock of a later release
        assert f"Exit {int(code)}" in troubleshooting or f"(exit {int(code)})" in troubleshooting, code
        assert f"| {int(code)} |" in readme, f"exit code {int(code)} missing from the table"
