"""Hardening: instance liveness by the database's clock, one sweep per interval.

- instances: `alive_since` (start of the current unbroken run of heartbeats), `host` and `pid`
  (to tell a process's own earlier life from another live process with the same name).
- sweep_slots: one row per claimed scheduler interval.
- operations.target_version: written but never read.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("alive_since", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE instances SET alive_since = heartbeat_at")
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.alter_column("alive_since", existing_type=sa.DateTime(timezone=True), nullable=False)

    op.create_table(
        "sweep_slots",
        sa.Column("slot", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_sweep_slots")),
    )

    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.drop_column("target_version")


def downgrade():
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target_version", sa.Integer(), nullable=True))
    op.drop_table("sweep_slots")
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("alive_since")
        batch_op.drop_column("pid")
        batch_op.drop_column("host")
