"""The house: layers import one way, no import cycles, engine names compared only in the registries, and the fake
pynvml held to the real module's function names and signatures."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from rules import engines

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("advisor", "probes", "rules")


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Our modules that `name` imports, at the top or inside functions (a lazy import is still an edge)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


GRAPH = {name: imports_of(name, path, modules()) for name, path in modules().items()}


def test_probes_import_nothing_of_ours_and_rules_import_only_probes():
    for name, deps in GRAPH.items():
        if name.startswith("probes"):
            assert all(d.startswith("probes") for d in deps), (name, deps)
        if name.startswith("rules"):
            assert all(d.startswith(("rules", "probes")) for d in deps), (name, deps)


def test_no_import_cycles():
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(GRAPH.get(node, ())):
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)


def _engine_strings_in_comparisons(path: Path) -> list[tuple[int, str]]:
    names = set(engines.NAMES)
    hits = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Compare):
            continue
        for side in [node.left, *node.comparators]:
            items = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
            for item in items:
                if isinstance(item, ast.Constant) and item.value in names:
                    hits.append((node.lineno, item.value))
    return hits


def test_engine_names_are_compared_only_in_the_registries():
    allowed = (ROOT / "rules" / "engines", ROOT / "advisor" / "launch")
    offenders = []
    for path in modules().values():
        if any(a in path.parents for a in allowed):
            continue
        offenders += [f"{path.relative_to(ROOT)}:{line} compares {value!r}" for line, value in
                      _engine_strings_in_comparisons(path)]
    assert not offenders, "\n".join(offenders)


def test_every_engine_has_its_launcher_and_module():
    from advisor.launch import LAUNCHERS
    from rules.runtimes import RUNTIMES

    assert set(LAUNCHERS) == set(engines.REGISTRY) | set(RUNTIMES)  # token-LLM engines and vision runtimes
    assert not set(engines.REGISTRY) & set(RUNTIMES)
    assert len({r.rank for r in RUNTIMES.values()}) == len(RUNTIMES)
    for name, engine in engines.REGISTRY.items():
        assert engine.name == name and engine.label and isinstance(engine.rank, int)
    assert len({e.rank for e in engines.REGISTRY.values()}) == len(engines.REGISTRY)  # one order, no ties


def test_fake_pynvml_matches_the_real_module():
    """Every function our fake offers exists in nvidia-ml-py with a compatible signature, so a test cannot pass on
    a call the real binding does not have."""
    from tests.fakes import fake_pynvml

    real = importlib.import_module("pynvml")
    fake = fake_pynvml.build(fake_pynvml.FakeMachine())
    checked = 0
    for name in dir(fake):
        if not name.startswith("nvml") or not callable(getattr(fake, name)):
            continue
        assert hasattr(real, name), f"the fake has {name}, nvidia-ml-py does not"
        ours = inspect.signature(getattr(fake, name))
        theirs = inspect.signature(getattr(real, name))
        # the fake may have fewer optional parameters, never a required one the real function lacks
        required = [p for p in ours.parameters.values() if p.default is inspect.Parameter.empty
                    and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        positional = [p for p in theirs.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        variadic = any(p.kind == p.VAR_POSITIONAL for p in theirs.parameters.values())
        assert variadic or len(required) <= len(positional), f"{name}{ours} vs nvidia-ml-py {name}{theirs}"
        checked += 1
    for cls in ("NVMLError", "NVMLError_NotSupported", "NVMLError_GpuIsLost", "NVMLError_LibraryNotFound"):
        assert hasattr(real, cls) and hasattr(fake, cls), cls
    assert checked >= 20
