"""`python -m coldrec ...`: the same command line as the `coldrec` console script."""

from coldrec.cli import main

raise SystemExit(main())
