"""`python -m equivpruner` runs the command line."""

from .cli.app import app

app()
