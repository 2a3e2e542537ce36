"""The shape of the package: imports flow one way (math -> kernels/backend -> layers, losses,
optimizers -> models -> saving users), with no circle, even through an import inside a function."""

import ast
from pathlib import Path

import tinynn

PACKAGE = Path(tinynn.__file__).parent


def module_imports() -> dict[str, set[str]]:
    """{module: the tinynn modules it imports anywhere in its code}, from the source's AST."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue  # the package root re-exports everything; it is nobody's dependency
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "tinynn":
                    found |= {f"tinynn.{a.name}" for a in node.names}
                elif node.module.startswith("tinynn."):
                    found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("tinynn.")}
        graph[name] = {m for m in found if m != name}
    return graph


def test_no_import_cycles():
    graph = module_imports()
    state: dict[str, str] = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_the_math_imports_no_layer_model_or_optimizer():
    graph = module_imports()
    pure_modules = ("tinynn.ops", "tinynn.activations", "tinynn.losses", "tinynn.loss_functions",
                    *(m for m in graph if m.startswith("tinynn.metrics")))
    for pure in pure_modules:
        assert not graph[pure] & {"tinynn.layers", "tinynn.models", "tinynn.optimizers",
                                  "tinynn.saving", "tinynn.backend"}, (pure, graph[pure])
    assert graph["tinynn.kernels"] <= {"tinynn.ops"}
    assert graph["tinynn.fused"] <= {"tinynn.kernels"}  # the engine's numba code: kernels only
    assert "tinynn.engine" not in graph["tinynn.layers"] | graph["tinynn.optimizers.base"]
    assert "tinynn.models" not in graph["tinynn.saving"] | graph["tinynn.io"]
    # Keras's file formats sit under saving (which chooses them by suffix)
    for module in ("tinynn.keras_format", "tinynn.keras_config", "tinynn.keras_compile",
                   "tinynn.serialization"):
        assert not graph[module] & {"tinynn.models", "tinynn.saving"}, (module, graph[module])
    assert "tinynn.keras_format" in graph["tinynn.saving"]


def test_test_modules_have_unique_names():
    """`pytest tests/ parity/` imports test modules by basename (rootdir conftest, no packages):
    two files with one name make collection fail."""
    root = PACKAGE.parent
    names = [p.name for folder in ("tests", "parity") for p in (root / folder).glob("test_*.py")]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
