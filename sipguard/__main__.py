"""``python -m sipguard`` runs the command line."""

import sys

from sipguard.cli import main

sys.exit(main())
