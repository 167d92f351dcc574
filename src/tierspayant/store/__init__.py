"""Storage: SQLAlchemy Core tables, the SQL unit of work implementing ``services.ports``, and
Alembic migrations. SQLite by default, PostgreSQL by URL."""
