"""HTML to PDF (weasyprint, drawn with Debian's pango): the breach reports a controller files
(breach/report.py renders the HTML)."""

from __future__ import annotations

import logging


def html_to_pdf(document: str) -> bytes:
    # weasyprint logs every CSS property it ignores at WARNING: noise in the server's log.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    from weasyprint import HTML  # imported here: a second of start-up the rights check never needs

    pdf = HTML(string=document).write_pdf()
    assert pdf is not None
    return bytes(pdf)
