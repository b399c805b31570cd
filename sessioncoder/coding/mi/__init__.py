"""The trained MI coder: context features, numpy heads, and the coder that joins them to the encoder.
Imports the core modules and ``models``; used by ``coding.combine`` through ``load_mi_coder``.
"""

from sessioncoder.coding.mi.coder import MIModelCoder, load_mi_coder

__all__ = ["MIModelCoder", "load_mi_coder"]
