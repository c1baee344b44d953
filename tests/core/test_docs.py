"""Tests that keep the docs and the architecture honest."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

from ganforge.core import hookspecs

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "ganforge"


def _hook_names():
    return sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
                  if name.startswith("ganforge_") and hasattr(fn, "ganforge_spec"))


def test_every_hook_is_documented_with_its_arguments():
    text = (ROOT / "docs" / "hooks.md").read_text()
    headings = dict(re.findall(r"^### (ganforge_\w+)\(([^)]*)\)", text, flags=re.M))
    for name in _hook_names():
        assert name in headings, f"docs/hooks.md has no heading for {name}"
        args = [a for a in inspect.signature(getattr(hookspecs, name)).parameters]
        documented = [a.strip() for a in headings[name].split(",") if a.strip()]
        assert documented == args, f"docs/hooks.md: {name}({', '.join(documented)}) but the hookspec takes {args}"
    assert set(headings) == set(_hook_names()), "docs/hooks.md documents hooks that do not exist"


def test_every_hook_has_a_test():
    text = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    for name in _hook_names():
        assert re.search(rf"^def test_hook_{name}\(", text, flags=re.M), f"no test_hook_{name} in tests/"


def test_every_hookspec_has_a_docstring_with_an_example():
    for name in _hook_names():
        doc = getattr(hookspecs, name).__doc__ or ""
        assert "Example::" in doc and (":param" in doc or ":return" in doc), f"{name}: docstring lacks arguments or an example"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_plugins_never_import_each_other():
    plugins_dir = SRC / "plugins"
    for package in sorted(p for p in plugins_dir.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        for file in package.rglob("*.py"):
            for module in _imports(file):
                if module.startswith("ganforge.plugins."):
                    other = module.split(".")[2]
                    assert other == package.name, f"{file.relative_to(ROOT)} imports plugin {other!r}"
                if module.startswith("ganforge.cli") and module != "ganforge.cli._common":
                    # plugin commands may use the shared consoles and user_errors(), nothing else of the CLI
                    raise AssertionError(f"{file.relative_to(ROOT)} imports the CLI ({module})")


def test_core_has_no_model_code_and_no_plugin_imports():
    for file in (SRC / "core").rglob("*.py"):
        for module in _imports(file):
            assert not module.startswith("ganforge.plugins"), f"{file.relative_to(ROOT)} imports {module}"


def test_modules_stay_small():
    big = [(f.relative_to(ROOT), n) for f in SRC.rglob("*.py") if (n := len(f.read_text().splitlines())) > 800]
    assert not big, f"modules over the 800-line cap: {big}"


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [b.strip() for b in blocks[1:3]]


def test_readme_starts_with_the_two_commands():
    install_and_run, install_and_test = _readme_commands()
    assert install_and_run.endswith("gan run") and "pip install torch==2.13.0" in install_and_run
    assert "pip install torch==2.13.0" in install_and_test and "pytest" in install_and_test


def test_ci_runs_exactly_the_readme_test_command():
    _, install_and_test = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    tail = install_and_test.split("&& . .venv/bin/activate && ", 1)[1]
    assert tail in ci.splitlines(), f"the last line of .ci/run must be the README's test command: {tail}"
