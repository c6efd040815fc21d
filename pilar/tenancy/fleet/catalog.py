"""What the catalog says: whether a db schema exists, and what the bound one holds.

What a db schema holds is read as facts that compare. Two db schemas that
give the same facts have the same objects with the same definitions, in the
same column order. The facts are read relative to
``current_schema()`` (bound with ``scope.bind_connection``) and never name the
db schema itself, so schemas of different names compare equal.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

_NAMESPACE = sa.table("pg_namespace", sa.column("nspname"), schema="pg_catalog")

# Every query reads only what lives in the bound db schema.
_QUERIES = {
    # Every object PostgreSQL records as living in the namespace, by catalog:
    # catches kinds of object that no query below looks at in detail.
    "objects": """
        SELECT classid::regclass::text, count(*) FROM pg_depend
        WHERE refclassid = 'pg_namespace'::regclass
        AND refobjid = current_schema()::regnamespace
        GROUP BY 1 ORDER BY 1""",
    "relations": """
        SELECT relname, relkind, relpersistence, reloptions::text,
               relrowsecurity, relacl::text, obj_description(oid, 'pg_class')
        FROM pg_class WHERE relnamespace = current_schema()::regnamespace
        ORDER BY relname""",
    # Index columns keep the name their column had when the index was made;
    # only the index definition (below) means anything.
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, a.attidentity, a.attgenerated, co.collname,
               pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum),
               a.attacl::text
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation
        WHERE c.relnamespace = current_schema()::regnamespace AND a.attnum > 0
        AND NOT a.attisdropped AND c.relkind NOT IN ('i', 'I')
        ORDER BY c.relname, a.attnum""",
    "constraints": """
        SELECT coalesce(c.relname, t.typname), k.conname, k.contype,
               pg_get_constraintdef(k.oid), k.condeferrable, k.condeferred
        FROM pg_constraint k
        LEFT JOIN pg_class c ON c.oid = k.conrelid
        LEFT JOIN pg_type t ON t.oid = k.contypid
        WHERE k.connamespace = current_schema()::regnamespace ORDER BY 1, 2""",
    "indexes": """
        SELECT c.relname,
               replace(pg_get_indexdef(i.indexrelid),
                       quote_ident(current_schema()) || '.', '')
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relnamespace = current_schema()::regnamespace ORDER BY 1""",
    "types": """
        SELECT t.typname, t.typtype, obj_description(t.oid, 'pg_type'),
               array(SELECT e.enumlabel FROM pg_enum e
                     WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
        FROM pg_type t WHERE t.typnamespace = current_schema()::regnamespace
        ORDER BY 1""",
    "functions": """
        SELECT proname, pg_get_function_identity_arguments(oid), md5(prosrc)
        FROM pg_proc WHERE pronamespace = current_schema()::regnamespace
        ORDER BY 1, 2""",
    "triggers": """
        SELECT c.relname, t.tgname FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
        ORDER BY 1, 2""",
    "rules": """
        SELECT c.relname, r.rulename FROM pg_rewrite r
        JOIN pg_class c ON c.oid = r.ev_class
        WHERE c.relnamespace = current_schema()::regnamespace ORDER BY 1, 2""",
    "policies": """
        SELECT c.relname, p.polname FROM pg_policy p
        JOIN pg_class c ON c.oid = p.polrelid
        WHERE c.relnamespace = current_schema()::regnamespace ORDER BY 1, 2""",
}


def snapshot(conn: sa.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Return the facts of the db schema bound to ``conn``'s transaction."""
    facts = {
        name: [tuple(row) for row in conn.execute(sa.text(query))]
        for name, query in _QUERIES.items()
    }
    # Rows, as a count per table: a revision that seeds data changes them.
    # Unqualified, the tables are found through the bound search_path.
    facts["rows"] = [
        (name, conn.scalar(sa.select(sa.func.count()).select_from(sa.table(name))))
        for name, kind, *_ in facts["relations"]
        if kind in ("r", "p")
    ]
    return facts


def schema_exists(conn: sa.Connection, schema_name: str) -> bool:
    """Tell whether ``conn``'s database has a db schema named ``schema_name``."""
    return bool(
        conn.scalar(sa.select(sa.exists().where(_NAMESPACE.c.nspname == schema_name)))
    )
