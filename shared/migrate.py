"""`vigil migrate`: create the database if it is missing, run Alembic, set up the checkpointer."""

import logging
from importlib.resources import files

import psycopg
from alembic import command
from alembic.config import Config
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from shared.desk import write_review_targets
from shared.settings import Settings

log = logging.getLogger(__name__)


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("shared") / "migrations"))
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    config.attributes["settings"] = settings  # for a migration that needs a setting (0006: the appeal window)
    return config


def create_database_if_missing(settings: Settings) -> bool:
    params = conninfo_to_dict(settings.libpq_url)
    name = params.get("dbname", "postgres")
    admin = make_conninfo(settings.libpq_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        log.info("created database %s", name)
        return True


def migrate(settings: Settings) -> None:
    create_database_if_missing(settings)
    command.upgrade(alembic_config(settings), "head")
    with PostgresSaver.from_conn_string(settings.libpq_url) as saver:
        saver.setup()
    with psycopg.connect(settings.libpq_url, autocommit=True) as conn:
        write_review_targets(conn, settings.review_target_durations)
    log.info("database is at the latest revision, checkpointer tables ready")
