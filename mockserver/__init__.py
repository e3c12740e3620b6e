"""pixverse-mock: a local fake of PixVerse V5 as four providers sell it."""

__version__ = "0.1.0"
