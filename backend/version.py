"""SessionHub's version: in the webhook User-Agent, and wherever a client should see it."""

VERSION = "0.12.0.dev0"
