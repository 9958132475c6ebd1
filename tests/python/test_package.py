"""The worker package's shape: every module imports on its own, and no two import each other."""

import ast
import os
import subprocess
import sys
import unittest

from launch import PYDIR

PKG = os.path.join(PYDIR, "ebb_worker")


def _modules():
    return sorted(f[:-3] for f in os.listdir(PKG) if f.endswith(".py") and f != "__init__.py")


def _imports(name):
    """The sibling modules `name` imports (from . import x / from .x import y)."""
    with open(os.path.join(PKG, name + ".py")) as f:
        tree = ast.parse(f.read())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
    return out


class PackageTest(unittest.TestCase):
    def test_each_module_imports_alone(self):
        for name in _modules():
            with self.subTest(module=name):
                r = subprocess.run([sys.executable, "-c", "import ebb_worker.%s" % name],
                                   cwd=PYDIR, capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)

    def test_no_import_cycles(self):
        graph = {name: _imports(name) for name in _modules()}
        self.assertIn("main", graph)
        for deps in graph.values():
            self.assertTrue(deps <= set(graph), deps - set(graph))
        done, path = set(), []

        def visit(n):
            if n in path:
                self.fail("import cycle: %s" % " -> ".join(path[path.index(n):] + [n]))
            if n in done:
                return
            path.append(n)
            for d in sorted(graph[n]):
                visit(d)
            path.pop()
            done.add(n)

        for n in graph:
            visit(n)


if __name__ == "__main__":
    unittest.main()
