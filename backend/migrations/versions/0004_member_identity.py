"""Members' identity from join tokens (DESIGN section 10).

- memberships.user_id: the user's id in the customer's app (the token's `sub`), shown in
  presence and GET /clients; null for members who joined without a token.
- memberships.role: `editor` or `viewer`; rows from before access control were all editors.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="editor")
        )


def downgrade():
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_column("role")
        batch_op.drop_column("user_id")
