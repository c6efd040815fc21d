"""What a db schema holds, read from the catalog for tests that compare two of them.

Written independently of ``pilar.tenancy.fleet.catalog`` on purpose: a test that
reuses the code it checks would share its blind spots.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

_QUERIES = {
    "tables": """
        SELECT table_name, table_type FROM information_schema.tables
        WHERE table_schema = :schema ORDER BY 1""",
    # Columns in their order; ordinal_position itself keeps gaps left by
    # dropped columns, so only the order is compared.
    "columns": """
        SELECT table_name, column_name, data_type, udt_name,
               character_maximum_length, numeric_precision, is_nullable,
               column_default, collation_name, is_identity, is_generated
        FROM information_schema.columns WHERE table_schema = :schema
        ORDER BY table_name, ordinal_position""",
    "constraints": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid),
               k.condeferrable, k.convalidated
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE c.relnamespace = to_regnamespace(:schema) ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = :schema ORDER BY 1, 2""",
    "enums": """
        SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
        WHERE t.typnamespace = to_regnamespace(:schema) GROUP BY 1 ORDER BY 1""",
    "views": """
        SELECT table_name, view_definition FROM information_schema.views
        WHERE table_schema = :schema ORDER BY 1""",
    "triggers": """
        SELECT event_object_table, trigger_name, action_statement
        FROM information_schema.triggers WHERE trigger_schema = :schema
        ORDER BY 1, 2""",
}


def schema_catalog(conn: sa.Connection, schema_name: str) -> dict[str, list[Any]]:
    """Return the objects of ``schema_name`` with its name taken out of them."""
    catalog = {
        name: [
            tuple(_unqualified(value, schema_name) for value in row)
            for row in conn.execute(sa.text(query), {"schema": schema_name})
        ]
        for name, query in _QUERIES.items()
    }
    catalog["alembic_version"] = sorted(
        conn.scalars(
            sa.select(sa.column("version_num")).select_from(
                sa.table("alembic_version", schema=schema_name)
            )
        )
    )
    return catalog


def _unqualified(value: Any, schema_name: str) -> Any:
    # Definitions name objects outside search_path with their db schema.
    if isinstance(value, str):
        return value.replace(f'"{schema_name}".', "").replace(f"{schema_name}.", "")
    if isinstance(value, list):
        return [_unqualified(item, schema_name) for item in value]
    return value
