"""Unbound extension instances; ``pilar.app`` binds them to the application.

flask-smorest's ``Api`` keeps one OpenAPI spec for the last app it was bound
to, so ``pilar.api`` makes one per app instead of sharing an instance here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession

# Where ``pilar.tenancy`` puts the engine of the node a session's tenant is on.
TENANT_ENGINE_KEY = "pilar.tenant_engine"
# Set while a keyed write runs (pilar.services.idempotency): ``commit`` only
# flushes, and the write commits at the end with its idempotency key.
DEFER_COMMIT_KEY = "pilar.defer_commit"


class Session(FlaskSession):
    """A session whose tenant tables go to its tenant's node, the rest to ``default``.

    Tenant tables are the ones that name no db schema (``TenantModel``);
    control-plane tables name ``public``. Until ``pilar.tenancy`` binds a
    tenant, both go to the app's engine, where the fail-closed guard refuses
    tenant tables.
    """

    def commit(self) -> None:
        deferred = self.info.get(DEFER_COMMIT_KEY)
        if deferred is not None:
            self.flush()
            deferred.append(True)  # the caller meant to commit
            return
        super().commit()

    def get_bind(
        self,
        mapper: Any | None = None,
        clause: Any | None = None,
        bind: sa.Engine | sa.Connection | None = None,
        **kwargs: Any,
    ) -> sa.Engine | sa.Connection:
        if bind is None:
            tenant_engine = self.info.get(TENANT_ENGINE_KEY)
            if tenant_engine is not None and _is_tenant_statement(mapper, clause):
                return tenant_engine  # type: ignore[no-any-return]  # info is untyped
        return super().get_bind(mapper, clause, bind, **kwargs)


def _is_tenant_statement(mapper: Any | None, clause: Any | None) -> bool:
    if mapper is not None:
        return sa.inspect(mapper).local_table.schema is None
    if isinstance(clause, sa.Table):
        return clause.schema is None
    if isinstance(clause, sa.sql.dml.UpdateBase) and isinstance(clause.table, sa.Table):
        return clause.table.schema is None
    if isinstance(clause, sa.sql.ClauseElement):
        # A Core statement: rare in the service, so walking it costs little.
        return any(t.schema is None for t in sa.sql.util.find_tables(clause))
    return False


# After a commit a request only serialises what it wrote; with
# eager defaults the rows are complete, so reloading them would be a wasted query.
db = SQLAlchemy(session_options={"expire_on_commit": False, "class_": Session})
migrate = Migrate()
