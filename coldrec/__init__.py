"""The `coldrec` command line (coldrec/cli.py); `python -m coldrec` runs it too."""
