"""Alembic env for the public db schema (Flask-Migrate: ``flask db …``)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from flask import current_app

from pilar.models import PublicModel


def _schemaless(metadata: sa.MetaData) -> sa.MetaData:
    # Models name ``public``; PostgreSQL reflection reports the default schema
    # as no schema at all. Comparing a schema-less copy keeps autogenerate
    # from seeing spurious differences in every foreign key and enum type.
    copy = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(copy, schema=None, referred_schema_fn=_no_schema)
    return copy


def _no_schema(*args: object) -> object:
    return sa.schema.BLANK_SCHEMA


TARGET_METADATA = _schemaless(PublicModel.metadata)


def run_migrations_offline() -> None:
    context.configure(
        url=current_app.config["SQLALCHEMY_DATABASE_URI"],
        target_metadata=TARGET_METADATA,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = current_app.extensions["migrate"].db.engine
    with engine.connect() as conn:
        # The engine leaves schema-less names unbound (see pilar.tenancy.scope);
        # in this env they all mean ``public``.
        conn.execution_options(schema_translate_map={None: "public"})
        context.configure(
            connection=conn, target_metadata=TARGET_METADATA, compare_type=True
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
