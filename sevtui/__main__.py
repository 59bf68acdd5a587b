"""Allow `python -m sevtui`."""

from sevtui.cli import main

raise SystemExit(main())
