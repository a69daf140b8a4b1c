import sys

from radtrio.cli import main

sys.exit(main())
