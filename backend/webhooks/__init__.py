"""Webhooks (DESIGN section 11): events written to an outbox in the transaction of the change
they report (`outbox`), with the bodies of `events`, and sent, signed and retried by the
`dispatcher` in every process. Nothing else in SessionHub imports `requests` for webhooks."""
