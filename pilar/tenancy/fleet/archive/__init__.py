"""A tenant in one file: export it, import it elsewhere or again (CONTRACT §10).

``manifest`` says what an archive holds, ``spool`` writes one, ``tables``
copies rows in and out; ``exporting`` and ``importing`` are the two
operations. Secrets stay encrypted as stored: an imported tenant's secrets
are readable only with the same ``PILAR_SECRET_KEY`` (or one of its
fallbacks).
"""

from __future__ import annotations

from pilar.tenancy.fleet.archive.exporting import ExportSummary
from pilar.tenancy.fleet.archive.exporting import export_tenant
from pilar.tenancy.fleet.archive.importing import ImportSummary
from pilar.tenancy.fleet.archive.importing import import_tenant

__all__ = ["ExportSummary", "ImportSummary", "export_tenant", "import_tenant"]
