"""The package's shape, read off the source: the stages' import rules, the size limits that keep modules
readable, and library messages that leave the command line's flags to the CLI. Static (import graph from the
AST, function-level imports included), so a lazy import that would only run on some path is caught too."""

import ast
import itertools
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tinyml_kit"
HEAVY = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization", "tf2onnx", "tinyml_kit._tf")
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """Every module `name` imports anywhere in its body, as absolute names."""
    path = MODULES[name]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}".strip(".")
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)
    return found


def closure(name: str) -> dict[str, str]:
    """Every module reachable from `name` through imports, with the module that first imported it."""
    seen, todo = {name: ""}, [name]
    while todo:
        current = todo.pop()
        for imported in imports_of(current):
            internal = [m for m in MODULES if imported == m or imported.startswith(m + ".")]
            target = max(internal, key=len) if internal else imported
            if target not in seen:
                seen[target] = current
                if target in MODULES:
                    todo.append(target)
    return seen


def _stage(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _stage(m) in ("core", "solve", "engine")))
def test_core_solve_and_the_c_engine_never_reach_tensorflow(module):
    reached = closure(module)
    heavy = {m: via for m, via in reached.items() if m.split(".")[0] in HEAVY or m == "tinyml_kit._tf"
             or m.startswith(HEAVY)}
    assert not heavy, f"{module} reaches {heavy}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _stage(m) in ("core", "solve")))
def test_core_and_solve_stay_below_the_other_stages(module):
    allowed = {"core"} if _stage(module) == "core" else {"core", "solve"}
    internal = {m for m in closure(module) if m.startswith("tinyml_kit.") and m in MODULES}
    assert {m for m in internal if _stage(m) not in allowed} == set()


STAGES = ("core", "solve", "nets", "train", "compress", "engine", "export", "check", "baseline", "pipeline", "cli")


def test_each_stage_imports_only_itself_and_earlier_stages():
    """The package reads like the pipeline: a stage may use the ones before it, never one after."""
    later = []
    for module in MODULES:
        stage = _stage(module)
        if stage not in STAGES:
            continue
        for imported in imports_of(module):
            target = imported.split(".")[1] if imported.startswith("tinyml_kit.") else ""
            if target in STAGES and STAGES.index(target) > STAGES.index(stage):
                later.append(f"{module} -> {imported}")
    assert later == []


def test_no_library_module_imports_the_cli():
    offenders = [m for m in MODULES
                 if _stage(m) != "cli" and any(i.startswith("tinyml_kit.cli") for i in imports_of(m))]
    assert offenders == []


def test_the_check_can_fail(tmp_path, monkeypatch):
    """The closure sees through function-level imports and other modules: a core module that lazily imports a
    module importing TensorFlow is caught."""
    fake_core = tmp_path / "core_fake.py"
    fake_core.write_text("def f():\n    from tinyml_kit.nets import build\n")
    monkeypatch.setitem(MODULES, "tinyml_kit.core.fake", fake_core)
    assert "tinyml_kit._tf" in closure("tinyml_kit.core.fake")


def module_edges(name: str) -> set[str]:
    """The package's modules `name` imports, each resolved to the module itself: `from a.b import c` where c is a
    module is an edge to a.b.c alone (Python imports the package a.b on the way, but a.b does not depend on c)."""
    edges = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        targets = {a.name for a in node.names} if isinstance(node, ast.Import) else imports_of_node(name, node)
        for imported in targets:
            internal = [m for m in MODULES if imported == m or imported.startswith(m + ".")]
            if internal and (target := max(internal, key=len)) != name:
                edges.add(target)
    return edges


def imports_of_node(name: str, node: ast.ImportFrom) -> set[str]:
    base = node.module or ""
    if node.level:
        package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}".strip(".")
    submodules = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
    return submodules if len(submodules) == len(node.names) else {base} | submodules


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = stack[stack.index(node):]
                del stack[stack.index(node):]
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_no_import_cycles():
    """Function-level imports hide cycles from Python but not from the design: each cycle is a helper that sits
    too high. Move it down instead of importing it lazily."""
    assert import_cycles({m: module_edges(m) for m in MODULES}) == []


def test_the_cycle_check_can_fail(tmp_path, monkeypatch):
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from tinyml_kit.core.units import parse_size\n")
    units = tmp_path / "units.py"
    units.write_text(MODULES["tinyml_kit.core.units"].read_text()
                     + "\n\ndef g():\n    from tinyml_kit.core import planted\n")
    monkeypatch.setitem(MODULES, "tinyml_kit.core.planted", planted)
    monkeypatch.setitem(MODULES, "tinyml_kit.core.units", units)
    cycles = import_cycles({m: module_edges(m) for m in MODULES})
    assert ["tinyml_kit.core.planted", "tinyml_kit.core.units"] in cycles


def test_modules_and_functions_stay_small():
    long_modules = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    long_functions = []
    for m, p in MODULES.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{m}.{node.name}: {length}")
    assert not long_modules and not long_functions, (long_modules, long_functions)


def test_no_code_compares_family_or_engine_names():
    """What a family has or allows is asked of its `core.family.Family` record, what an engine runs and how of its
    `solve.engines.Engine` (or the later stages' registries keyed by their names), not decided by comparing names
    where it is used."""
    compare = re.compile(r"\bfamily (==|!=|in) |\b(family|engine|arch)\S* *(==|!=) *[\"']|[\"'] *(==|!=) *\S*\b(family|"
                         r"engine|arch)\b")
    found = [f"{m}:{i}" for m, p in MODULES.items() if m not in ("tinyml_kit.core.family", "tinyml_kit.solve.engines")
             for i, line in enumerate(p.read_text().splitlines(), 1) if compare.search(line)]
    assert found == []
    assert compare.search('    if engine == "c":') and compare.search('if r.get("engine") == "c"')


def cli_flags() -> set[str]:
    """Every flag the command line offers (`--alpha`, `--init-from`, ...)."""
    from tinyml_kit.cli import main

    def commands(command):
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from commands(sub)
    return {o for c in commands(main) for p in c.params for o in [*p.opts, *p.secondary_opts] if o.startswith("--")}


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def flags_written(source: str, flags: set[str]) -> list[str]:
    """The command line's flags that string literals of `source` spell out (`"use --engine tflm"`) or compose
    (`f"--{knob}"`), docstrings aside: the library names parameters with `core.errors.param`, the CLI spells them."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found += [f"{node.lineno}: {f}" for f in FLAG.findall(node.value) if f in flags]
        if isinstance(node, ast.JoinedStr):   # f"--{knob}": a flag put together from a name
            found += [f"{a.lineno}: {a.value[-2:]}{{...}}" for a, b in itertools.pairwise(node.values)
                      if isinstance(a, ast.Constant) and isinstance(b, ast.FormattedValue)
                      and re.search(r"(^|[\s`(])--$", a.value)]
    return found


def test_library_messages_name_parameters_not_flags():
    """Outside the CLI, a message names a parameter as the Python caller passed it (`core.errors.param`); the CLI
    spells it as its flag (`cli.group.FLAGS`)."""
    flags = cli_flags()
    found = [f"{m}:{hit}" for m, p in MODULES.items() if _stage(m) != "cli"
             for hit in flags_written(p.read_text(), flags)]
    assert found == []


def test_the_flag_check_can_fail():
    flags = cli_flags()
    assert flags_written('def f():\n    """`fit --alpha 0.5`"""\n    raise E(f"use --engine {x}")\n', flags) == [
        "3: --engine"]
    assert flags_written('def f(k):\n    return f"drop --{k}", "--gc-sections", "--"\n', flags) == ["2: --{...}"]


def test_a_parameter_is_spelled_by_who_shows_the_message():
    from tinyml_kit.cli.group import said
    from tinyml_kit.core.errors import UserError, param

    e = UserError(f"{param('init_from')} model m.keras takes 32x32 images: pass {param('input_shape', '32,32,3')}")
    assert str(e) == "init_from= model m.keras takes 32x32 images: pass input_shape=32,32,3"
    assert said(e) == "--init-from model m.keras takes 32x32 images: pass --input 32,32,3"
    assert said(UserError(f"wrapped: {e.message}")) == f"wrapped: {said(e)}"
