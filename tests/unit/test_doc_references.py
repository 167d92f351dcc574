"""Every reference a comment makes to the project's documents resolves inside a clone: the file
is under docs/, and a cited threat (T2), promise, principle, rule code or quoted section heading
is in it. Nothing points outside the repository (../shared/)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("src", "tests", "bench", "scripts") for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".sh")]
REFERENCE = re.compile(r'(?<![\w/.-])(?:docs/)?(THREATS|DOMAIN|PRODUCT|ARCHITECTURE|FHIR-MAPPING)\.md'
                       r'[,:]? ?(?:"([^"]+)"|(T\d+)\b|promise (\d)|principle (\d+)|([A-Z]{3}-\d\d))?')


def _citations() -> list[tuple[Path, str, str]]:
    found = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in REFERENCE.finditer(text):
            name, quoted, threat, promise, principle, code = match.groups()
            target = quoted or threat or (promise and f"{promise}.") or (principle and f"{principle}.") or code or ""
            found.append((path, name, target))
    return found


def test_references_resolve_inside_the_repository() -> None:
    citations = _citations()
    assert len(citations) > 50
    missing = []
    for path, name, target in citations:
        doc = ROOT / "docs" / f"{name}.md"
        if not doc.exists():
            missing.append(f"{path.relative_to(ROOT)}: docs/{name}.md")
            continue
        text = doc.read_text(encoding="utf-8")
        if target and target.split(" (")[0] not in text:
            missing.append(f"{path.relative_to(ROOT)}: {target!r} not in docs/{name}.md")
    assert missing == []


def test_nothing_points_outside_the_clone() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in [*SOURCES, ROOT / "README.md", ROOT / "pyproject.toml"]
                 if "../shared/" in p.read_text(encoding="utf-8", errors="replace")
                 and p.name != "test_doc_references.py"]
    assert offenders == []
