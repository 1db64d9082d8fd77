"""Alembic environment: the database comes from Vigil's settings, not from an ini file."""

from alembic import context
from sqlalchemy import create_engine

from shared.models import Base
from shared.settings import get_settings

url = context.config.get_main_option("sqlalchemy.url") or get_settings().sqlalchemy_url

if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    with create_engine(url).connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
