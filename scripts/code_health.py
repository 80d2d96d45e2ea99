"""List what the contributor guide asks to keep out of the package code: functions longer than
--max-lines (default 60, MAX_LINES) and import cycles between modules of echo_model/ and echo_paraview/.

    .venv/bin/python scripts/code_health.py            # prints both lists, exits 1 if a cycle exists

Function length counts the lines from `def` to the end of its body, less its docstring (a NumPy-style
docstring with Parameters and an Example is long by design and is not code to split).
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("echo_model", "echo_paraview")
MAX_LINES = 60  # the contributor guide's limit; tests/unit/test_code_health.py holds the packages to it


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def long_functions(files: list[Path], max_lines: int) -> list[tuple[int, str, str]]:
    """(length, file:line, qualified name) of every function over max_lines, longest first."""
    found = []
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        stack: list[tuple[ast.AST, str]] = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                name = getattr(child, "name", None)
                qual = f"{prefix}{name}" if name else prefix
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = child.end_lineno - child.lineno + 1 - _docstring_lines(child)
                    if length > max_lines:
                        found.append((length, f"{path.relative_to(ROOT)}:{child.lineno}", qual))
                stack.append((child, f"{qual}." if name else prefix))
    return sorted(found, reverse=True)


def _imported_modules(path: Path, known: set[str]) -> set[str]:
    """Project modules that `path` imports, at module level or inside functions alike."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != here and not here.startswith(t + "."):  # a package's own __init__ is not a cycle
                out.add(t)
    return out


def _docstring_lines(fn: ast.AST) -> int:
    first = fn.body[0] if fn.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first.end_lineno - first.lineno + 1
    return 0


def import_cycles(files: list[Path]) -> list[list[str]]:
    """Strongly connected groups (size > 1) of the module import graph (Tarjan)."""
    known = {module_name(p) for p in files}
    graph = {module_name(p): _imported_modules(p, known) for p in files}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
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
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-lines", type=int, default=MAX_LINES)
    args = ap.parse_args(argv)
    files = package_files()
    longs = long_functions(files, args.max_lines)
    print(f"functions over {args.max_lines} lines: {len(longs)}")
    for length, where, name in longs:
        print(f"  {length:4d}  {where}  {name}")
    cycles = import_cycles(files)
    print(f"import cycles: {len(cycles)}")
    for group in cycles:
        print("  " + " <-> ".join(group))
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
