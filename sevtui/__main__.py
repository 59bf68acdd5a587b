"""Allow `python -m sevtui`."""

from sevtui.cli.commands import main

raise SystemExit(main())
