from .adapter import PixwithAdapter

__all__ = ["PixwithAdapter"]
