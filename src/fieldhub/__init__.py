"""fieldhub: one self-hosted service behind four frontline-work API families."""

__version__ = "0.1.0"
