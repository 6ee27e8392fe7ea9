"""Import direction (docs/architecture.md#layout), checked on the source with ast.

Data flows one way: model -> compress -> quantize -> export -> target; no stage imports one
downstream of it, and the device side (targets) never imports torch. import-linter cannot follow
the package-dir mapping (export/ is edgegru.export), so this test reads the folders itself; it
sees imports inside functions too.
"""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

FOLDERS = {
    "edgegru": "edgegru",
    "quantize": "edgegru.quantize",
    "export": "edgegru.export",
    "targets": "edgegru.targets",
}
CORE_TORCH_FREE = (
    "edgegru.types",
    "edgegru.cellspec",
    "edgegru.names",
    "edgegru.bundle",
    "edgegru.datasets",
    "edgegru.registry",
    "edgegru.errors",
    "edgegru.io",
    "edgegru.metrics",
    "edgegru.cli",
    # the settings the CLI's options and the pipeline's sections read their defaults from
    "edgegru.train_config",
    "edgegru.compress.config",
    "edgegru.compress.structured",
    "edgegru.compress.sparsity",
    "edgegru.pipeline.config",
)
# (importer prefix, forbidden prefixes, why)
CONTRACTS = [
    (
        "edgegru.targets",
        (
            "torch",
            "edgegru.export",
            "edgegru.quantize",
            "edgegru.cells",
            "edgegru.model",
            "edgegru.train",
            "edgegru.compress",
        ),
        "the device runner installs without torch and sits at the end of the flow",
    ),
    ("edgegru.export", ("edgegru.targets",), "export is upstream of targets"),
    ("edgegru.quantize", ("edgegru.export", "edgegru.targets"), "quantize is upstream of export"),
    (
        "edgegru.compress",
        ("edgegru.quantize", "edgegru.export", "edgegru.targets"),
        "compress is upstream of quantize",
    ),
    *[
        (
            m,
            ("edgegru.quantize", "edgegru.export", "edgegru.targets", "edgegru.compress"),
            "core is upstream of every stage",
        )
        for m in (
            "edgegru.types",
            "edgegru.cellspec",
            "edgegru.bundle",
            "edgegru.cells",
            "edgegru.model",
            "edgegru.train",
            "edgegru.datasets",
        )
    ],
    *[(m, ("torch",), "no torch at import time") for m in CORE_TORCH_FREE if m != "edgegru.cli"],
]


def modules():
    for folder, name in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("").parts
            if rel[-1] == "__init__":
                rel = rel[:-1]
            mod = ".".join((name, *rel))
            if folder == "edgegru" and rel and rel[0] in ("quantize", "export", "targets"):
                continue
            yield mod, path


def imports_of(path, module, top_level_only=False):
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[
                    : -node.level + (1 if path.name == "__init__.py" else 0) or None
                ]
                yield ".".join([*base, node.module] if node.module else base)
            elif node.module:
                yield node.module


def _under(name, prefix):
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize(
    ("source", "forbidden", "why"), CONTRACTS, ids=[f"{c[0]}!{c[1][0]}" for c in CONTRACTS]
)
def test_contract(source, forbidden, why):
    # torch may be imported lazily inside functions of modules that are torch-free at import
    top_only = forbidden == ("torch",)
    broken = [
        f"{mod} imports {imp}"
        for mod, path in modules()
        if _under(mod, source)
        for imp in imports_of(path, mod, top_level_only=top_only)
        if any(_under(imp, f) for f in forbidden)
    ]
    assert not broken, f"{why}: " + "; ".join(broken)


def test_the_check_sees_the_source():
    mods = dict(modules())
    assert "edgegru.types" in mods and "edgegru.export" in mods and "edgegru.targets" in mods
    assert "torch" in set(imports_of(mods["edgegru.model"], "edgegru.model"))
