import sys

from wukong_core.cli.commands import main

sys.exit(main())
