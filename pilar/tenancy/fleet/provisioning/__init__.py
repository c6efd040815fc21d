"""Creating and dropping tenants: public row, db schema and owner, atomically.

On the node ``default`` everything happens in one transaction on one
connection; PostgreSQL's transactional DDL means a failure at any step leaves
neither row nor schema. On another node there are two databases and no shared
transaction, so the steps are ordered for what a crash can leave:

- create: the node's transaction builds the schema under the tenant's
  advisory lock and stays open while the control plane commits the rows; the
  node commits last. A node that cannot be reached fails before anything is
  written. A crash between the two commits leaves a tenant row whose schema
  is missing, which ``doctor --fix`` builds (the tenant never held data).
- drop: the node's lock is taken first (an unreachable node drops nothing),
  then the control plane deletes the rows and records the schema in
  ``pending_drops`` in one commit, then the node drops the schema, then the
  record goes. A crash in between leaves a listed schema ``doctor`` drops.
"""

from __future__ import annotations

from pilar.tenancy.fleet.provisioning.creating import InTransaction
from pilar.tenancy.fleet.provisioning.creating import OwnerSpec
from pilar.tenancy.fleet.provisioning.creating import create_tenant
from pilar.tenancy.fleet.provisioning.creating import place
from pilar.tenancy.fleet.provisioning.dropping import drop_tenant
from pilar.tenancy.fleet.provisioning.dropping import finish_pending_drop

__all__ = [
    "InTransaction",
    "OwnerSpec",
    "create_tenant",
    "drop_tenant",
    "finish_pending_drop",
    "place",
]
