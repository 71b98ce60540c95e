"""``python -m node.cli``: the same as the ``beacon`` command."""

from node.cli.main import main

raise SystemExit(main())
