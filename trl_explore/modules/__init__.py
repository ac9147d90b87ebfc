"""nn.Modules: the Fourier head and the numeric-token head for causal LMs."""

from .fourier_head import FourierHead, collect_fourier_terms
from .numeric_head import FourierNumericHead, attach_numeric_head, numeric_head_projection

__all__ = [
    "FourierHead",
    "FourierNumericHead",
    "attach_numeric_head",
    "collect_fourier_terms",
    "numeric_head_projection",
]
