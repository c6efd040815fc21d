"""A tenant in one file: export it, import it elsewhere or again.

Behind ``flask tenants export`` and ``import``: an archive is a tar of a
manifest, then the COPY data of every table of the tenant's db schema and
of its control-plane rows. (``GET /api/v1/export``, a studio's data as
JSON, is another thing.)

``manifest`` says what an archive holds, ``spool`` writes one, ``reader``
reads one back and checks it, ``tables`` copies rows in and out;
``exporting`` and ``importing`` are the two operations, ``conflicts`` and
``loading`` the import's checks and its loads. Secrets stay encrypted as
stored: an imported tenant's secrets are readable only with the same
``PILAR_SECRET_KEY`` (or one of its fallbacks).
"""

from __future__ import annotations

from pilar.tenancy.fleet.archive.exporting import ExportSummary
from pilar.tenancy.fleet.archive.exporting import export_tenant
from pilar.tenancy.fleet.archive.importing import ImportSummary
from pilar.tenancy.fleet.archive.importing import import_tenant

__all__ = ["ExportSummary", "ImportSummary", "export_tenant", "import_tenant"]
