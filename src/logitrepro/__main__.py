import sys

from logitrepro.cli import main

sys.exit(main())
