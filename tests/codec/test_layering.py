"""Layering, read from the sources (imports inside functions included): lower layers never import higher ones, nothing
imports the command-line tools, and lib/ has no import cycle."""
import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A package's modules may not import any of these (data flows dataset -> codec -> model -> loss -> evaluator; the
# training core sits on top).
FORBIDDEN = {
    "lib.utils": ("lib.core", "lib.models", "lib.dataset", "lib.codec", "lib.visualization", "tools"),
    "lib.codec": ("lib.core", "lib.models", "lib.dataset", "lib.visualization", "tools"),
    "lib.dataset": ("lib.core", "lib.models", "lib.visualization", "tools"),
    "lib.models": ("lib.core", "lib.dataset", "lib.visualization", "tools"),
    "lib.metrics": ("lib.core", "tools"),
    "lib.config": ("lib.core", "lib.models", "lib.dataset", "tools"),
    "lib": ("tools",),
    "tools": ("tools",),
}


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def sources(*tops):
    for top in tops:
        yield from sorted((ROOT / top).rglob("*.py"))


def imports_of(path):
    """Every module named by an import statement anywhere in the file (functions included), made absolute."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


def known_modules():
    return {module_name(p) for p in sources("lib", "tools")}


def test_the_scanner_sees_imports_inside_functions(tmp_path):
    """The scanner itself: a function-level import is found (a test that cannot fail would prove nothing)."""
    probe = ROOT / "lib" / "utils" / "_layering_probe_tmp.py"
    try:
        probe.write_text("def f():\n    from lib.core import trainer\n    return trainer\n")
        assert "lib.core.trainer" in imports_of(probe)
    finally:
        probe.unlink()


def test_lower_layers_never_import_higher_ones():
    bad = []
    for path in sources("lib", "tools"):
        name = module_name(path)
        for layer, forbidden in FORBIDDEN.items():
            if name == layer or name.startswith(layer + "."):
                for target in imports_of(path):
                    hit = [f for f in forbidden if target == f or target.startswith(f + ".")]
                    if hit and not (layer == "tools" and name == "tools"):
                        bad.append(f"{path.relative_to(ROOT)} imports {target} (layer {layer})")
    assert not bad, "\n".join(sorted(set(bad)))


def test_lib_has_no_import_cycle():
    modules = {m for m in known_modules() if m.startswith("lib")}
    graph = {}
    for path in sources("lib"):
        name = module_name(path)
        targets = set()
        for target in imports_of(path):
            if target in modules and target != name:
                targets.add(target)  # `from lib.utils import dist` names both lib.utils and lib.utils.dist
        graph[name] = targets
    # `from pkg import sub` names pkg too: keep the package edge only when no submodule of it was meant.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not any(o.startswith(t + ".") for o in targets)}

    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles in lib/: {cycles}"


def test_data_models_and_codec_do_not_load_the_training_core():
    """The same rule at run time: importing them loads no lib.core module."""
    code = ("import sys, lib.codec, lib.dataset, lib.models; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('lib.core'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported from lib.core: {done.stdout.strip()}"
