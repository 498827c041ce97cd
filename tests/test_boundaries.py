"""Package boundaries (docs/architecture.md): who may import whom, rawpy only inside ``isp``, and no
import cycle, open or hidden in a function."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("tomlconfig", "isp", "hardware_profiles", "deblurnet", "burstcap")
#: What each package may import of ours (docs/architecture.md: dependency direction).
ALLOWED = {
    "tomlconfig": {"tomlconfig"},
    "isp": {"isp", "tomlconfig"},
    "hardware_profiles": {"hardware_profiles", "isp", "tomlconfig"},
    "deblurnet": {"deblurnet", "hardware_profiles", "isp", "tomlconfig"},
    "burstcap": set(PACKAGES),
}


def _modules() -> dict[str, Path]:
    """{dotted module name: file} of our packages (``__main__`` left out: importing it runs it)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__main__":
                continue
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, int, str]]:
    """(imported name, line, where) of every absolute import; where: "module" (run on import),
    "function" (run when the function is called) or "typing" (``if TYPE_CHECKING``: never run)."""
    out: list[tuple[str, int, str]] = []

    def walk(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = where
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                inner = "typing"
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and where == "module":
                inner = "function"
            if isinstance(child, ast.Import):
                out.extend((alias.name, child.lineno, inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                out.append((child.module, child.lineno, inner))
                out.extend((f"{child.module}.{alias.name}", child.lineno, inner) for alias in child.names)
            walk(child, inner)

    walk(ast.parse(path.read_text(encoding="utf-8")), "module")
    return out


def _module_of(name: str) -> str | None:
    """The module of ours ``name`` refers to (``isp.io.read_linear`` -> ``isp.io``), or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def test_rawpy_is_imported_only_inside_isp() -> None:
    outside = [f"{path.relative_to(REPO)}:{line}" for module, path in MODULES.items()
               if not module.startswith("isp")
               for name, line, _ in _imports(path) if name.split(".")[0] == "rawpy"]
    assert outside == [], f"rawpy imported outside isp (use isp.raw): {outside}"


def test_packages_import_only_what_the_architecture_allows() -> None:
    wrong = [f"{path.relative_to(REPO)}:{line} imports {name}" for module, path in MODULES.items()
             for name, line, _ in _imports(path)
             if name.split(".")[0] in PACKAGES and name.split(".")[0] not in ALLOWED[module.split(".")[0]]]
    assert wrong == []


def test_no_function_level_import_hides_a_cycle() -> None:
    """A function-level import of module B in module A is fine (a heavy dependency kept off a fast
    path), unless B's module-level imports lead back to A: then it hides a cycle."""
    top: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        parents = {module.rsplit(".", k)[0] for k in range(1, module.count(".") + 1)}
        top[module] = parents | {m for name, _, where in _imports(path) if where == "module"
                                 and (m := _module_of(name)) and m != module}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                todo += top.get(current, ())
        return False

    hidden = sorted({f"{path.relative_to(REPO)}:{line} imports {target}" for module, path in MODULES.items()
                     for name, line, where in _imports(path) if where == "function"
                     and (target := _module_of(name)) and target != module and reaches(target, module)})
    assert hidden == [], f"function-level imports hiding a cycle (move the shared code instead): {hidden}"


@pytest.mark.timeout(300)
def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    """Each module is imported as the first of ours (all of ours dropped from ``sys.modules`` before
    it; third-party ones like torch stay loaded, so this is cheap): an import cycle fails whichever
    module it is entered from."""
    script = f"""
import importlib, sys, traceback
failed = []
for name in {sorted(MODULES)!r}:
    for loaded in [m for m in sys.modules if m.split(".")[0] in {PACKAGES!r}]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=-3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                            timeout=280, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
