"""Indexes that keep the metrics and the sweep cheap at 100,000 retained sessions.

- sessions (end_reason): total_cleaned without a full table scan.
- sessions (is_active, created_at): the active sessions' count and oldest/newest/average age
  read from the index alone.
- sessions (is_active, created_at) WHERE first_joined_at IS NULL: the never-joined rule's
  candidates (partial: only sessions nobody ever joined).
- sessions (ttl_seconds): the TTL rule's candidates (no is_active: ending never rewrites it).
- memberships (left_at): connected_clients counts open rows only.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_NEVER_JOINED = sa.text("first_joined_at IS NULL")
_SESSION_INDEXES = {
    "ix_sessions_status_created": ["is_active", "created_at"],
    "ix_sessions_end_reason": ["end_reason"],
    "ix_sessions_ttl": ["ttl_seconds"],
}


def upgrade():
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        for name, columns in _SESSION_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
        batch_op.create_index(
            "ix_sessions_never_joined",
            ["is_active", "created_at"],
            unique=False,
            sqlite_where=_NEVER_JOINED,
            postgresql_where=_NEVER_JOINED,
        )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index("ix_memberships_left_at", ["left_at"], unique=False)


def downgrade():
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_memberships_left_at")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_never_joined")
        for name in reversed(list(_SESSION_INDEXES)):
            batch_op.drop_index(name)
