"""nn.Modules: the Fourier head and the numeric-token head for causal LMs."""

from .fourier_head import FourierHead
from .numeric_head import FourierNumericHead, attach_numeric_head

__all__ = ["FourierHead", "FourierNumericHead", "attach_numeric_head"]
