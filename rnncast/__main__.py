"""``python -m rnncast`` runs the CLI."""

from rnncast.cli import main

main()
