"""`python -m equivpruner` runs the command line."""

from .cli import app

app()
