from .adapter import AimlapiAdapter

__all__ = ["AimlapiAdapter"]
