"""Run reunite from a checkout: `python cli.py ...` is `reunite ...`."""

from reunite.cli import app

if __name__ == "__main__":
    app()
