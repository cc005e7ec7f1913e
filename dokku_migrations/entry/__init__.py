"""Entry points: what Dokku calls (triggers), what users type (commands), and argv parsing (cli)."""
