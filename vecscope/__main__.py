"""``python -m vecscope``: the same as the ``vecscope`` command."""

import sys

from vecscope.tui.launch import main

sys.exit(main())
