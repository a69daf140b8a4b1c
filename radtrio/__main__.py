from radtrio.cli import main
import sys

sys.exit(main())
