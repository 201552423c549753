import sys

from m2dino.cli import main

sys.exit(main())
