import sys

from crosspoint.cli import main

sys.exit(main())
