"""Docstring examples (NumPy-style "Example" sections) run as doctests, from the repository root.

Examples may open the committed sample cases by their relative paths (sample_cases/...).
"""
from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def resolve(target: str) -> tuple[ModuleType, Any]:
    """"pkg.module.Class.method" -> (module, object)."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        obj: Any = module
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return module, obj
    raise ImportError(target)


def examples_of(target: str) -> list[doctest.DocTest]:
    """The doctests in `target`'s own docstring (not its members')."""
    module, obj = resolve(target)
    finder = doctest.DocTestFinder(recurse=False)
    return [t for t in finder.find(obj, target, module=module) if t.examples]


def modules_with_examples(package: str) -> list[str]:
    """Every module of `package` whose docstrings (module, classes, functions) hold an example."""
    pkg = importlib.import_module(package)
    names = [package] + sorted(m.name for m in pkgutil.walk_packages(pkg.__path__, package + "."))
    return [n for n in names if module_examples(n)]


def module_examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    return [t for t in doctest.DocTestFinder().find(module) if t.examples and t.filename == module.__file__]


def run_doctests(tests: list[doctest.DocTest], monkeypatch) -> int:
    """Run the doctests from the repository root; fail with doctest's own report. Returns the count."""
    monkeypatch.chdir(REPO)
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
    return sum(len(t.examples) for t in tests)


def assert_documented(target: str) -> None:
    """NumPy-style Parameters and Example sections (and Returns for functions), with a doctest."""
    tests = examples_of(target)
    assert tests, f"{target} has no Example section with a doctest"
    doc = tests[0].docstring
    assert "Parameters\n" in doc and "Example" in doc, f"{target}: NumPy-style Parameters and Example sections"
    if not target.split(".")[-1][0].isupper():  # functions and methods say what they return
        assert "Returns\n" in doc, f"{target}: a NumPy-style Returns section"
