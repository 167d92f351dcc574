"""The domain's purity as an allow-list (docs/ARCHITECTURE.md, principle 1): its modules import
the standard library, each other, and the two identifier libraries -- nothing else. import-linter's
contracts forbid named packages; this one refuses anything not named."""

from __future__ import annotations

import sys

import grimp

ALLOWED_EXTERNAL = {"stdnum", "schwifty"}


def test_the_domain_imports_only_what_it_is_allowed() -> None:
    graph = grimp.build_graph("tierspayant", include_external_packages=True)
    domain = {m for m in graph.modules if m == "tierspayant.domain" or m.startswith("tierspayant.domain.")}
    assert len(domain) > 5
    outside = {
        (module, imported)
        for module in domain
        for imported in graph.find_modules_directly_imported_by(module)
        if not imported.startswith("tierspayant.domain")
        and imported.split(".")[0] not in sys.stdlib_module_names | ALLOWED_EXTERNAL
    }
    assert outside == set()
