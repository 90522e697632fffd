import sys

from modelbay_cli.main import main

sys.exit(main())
