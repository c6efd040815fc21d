"""The ``block-writes`` mode: writes wait while COPY carries every row.

One transaction on the source blocks the tenant's writes (``cutover.run``);
inside it every row is copied into the target, built at the tenant's
revision in a transaction that commits just before the switch.
"""

from __future__ import annotations

import sqlalchemy as sa

from pilar.models import TenantMove
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet.moves import copying
from pilar.tenancy.fleet.moves import cutover
from pilar.tenancy.fleet.moves.base import Progress


def move_blocking_writes(
    move: TenantMove, infos: list[copying.TableInfo], progress: Progress
) -> cutover.Cutover:
    with get_nodes().engine(move.target_node).connect() as target:
        transaction = target.begin()
        copying.build_copy(target, move.schema_name, move.revision)

        def copy(source: sa.Connection) -> None:
            progress("writes blocked: copying every row")
            copying.fill(source, target, move.schema_name, infos, progress)
            copying.carry_sequences(source, target, move.schema_name)
            transaction.commit()

        return cutover.run(
            move,
            infos,
            copy,
            lambda: copying.count_rows(target, move.schema_name, infos),
        )
