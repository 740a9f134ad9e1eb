"""``python -m vecscope``: the same as the ``vecscope`` command."""

import sys

from vecscope.cli.launch import main

sys.exit(main())
