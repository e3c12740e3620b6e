from .adapter import PixverseAdapter

__all__ = ["PixverseAdapter"]
