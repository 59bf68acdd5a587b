"""sevtui: what confidential VMs cost and what they buy, measured from one terminal app."""

__version__ = "0.1.0"
