"""A connector's check of sends in doubt, stored once, not on every delivery row.

A campaign claims its recipients with its connector's check (how to find out what the app
did with sends in doubt, about 400 characters), and each claim copied it into the detail of
every row: a campaign to 100,000 recipients wrote 40 MB more. `delivery_checks` keeps each
text once, by a digest (its SHA-256, cut to 128 bits, `store.check_digest`), and a row's
`detail["check"]` names that digest. The rows' texts move in two statements, whatever the
size of the ledger; a downgrade puts them back.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _sqlite_digest(check: str) -> str:
    """`store.check_digest` as it was at this revision, for SQLite, which has no SHA-256."""
    return hashlib.sha256(check.encode()).hexdigest()[:32]


def _expressions() -> tuple[str, str, str]:
    """The check a row names (SQL of `deliveries.detail`), its digest, and the detail with
    the check replaced by `{value}`, in the store's dialect."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        check = "(detail->>'check')"
        digest = f"left(encode(sha256(convert_to({check}, 'UTF8')), 'hex'), 32)"
        return check, digest, "jsonb_set(detail::jsonb, '{{check}}', to_jsonb({value}))::json"
    bind.connection.driver_connection.create_function(
        "lpstudio_check_digest", 1, _sqlite_digest, deterministic=True
    )
    check = "json_extract(detail, '$.check')"
    return check, f"lpstudio_check_digest({check})", "json_set(detail, '$.check', {value})"


def _texts_only(check: str) -> str:
    """Rows whose check is a text (a claim's, or a settle's own), in the store's dialect."""
    if op.get_bind().dialect.name == "postgresql":
        return "json_typeof(detail->'check') = 'string'"
    return "json_type(detail, '$.check') = 'text'"


def upgrade() -> None:
    op.create_table(
        "delivery_checks",
        sa.Column("digest", sa.String(32), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
    )
    check, digest, replaced = _expressions()
    texts = _texts_only(check)
    op.execute(
        f"INSERT INTO delivery_checks (digest, text) "
        f"SELECT DISTINCT {digest}, {check} FROM deliveries WHERE {texts}"
    )
    op.execute(f"UPDATE deliveries SET detail = {replaced.format(value=digest)} WHERE {texts}")


def downgrade() -> None:
    check, _, replaced = _expressions()
    text = f"(SELECT text FROM delivery_checks WHERE digest = {check})"
    op.execute(
        f"UPDATE deliveries SET detail = {replaced.format(value=text)} "
        f"WHERE {check} IN (SELECT digest FROM delivery_checks)"
    )
    op.drop_table("delivery_checks")
