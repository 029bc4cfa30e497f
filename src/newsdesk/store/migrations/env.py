"""Alembic environment: newsdesk passes an open connection in config.attributes."""

from __future__ import annotations

from alembic import context

from newsdesk.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic upgrade head` by hand, with sqlalchemy.url in the ini
    import sqlalchemy as sa

    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "set sqlalchemy.url or run through newsdesk"
    with sa.create_engine(url).begin() as conn:
        context.configure(connection=conn, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
