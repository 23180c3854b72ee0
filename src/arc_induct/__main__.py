import sys

from arc_induct.cli import main

sys.exit(main())
