from .adapter import FreepikAdapter

__all__ = ["FreepikAdapter"]
