"""`python -m archdsl …`: the `archdsl` command line."""

import sys

from archdsl.cli import main

sys.exit(main())
