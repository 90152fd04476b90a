import sys

from minireason.cli.main import main

sys.exit(main())
