"""radtrio: a fast LLM serving engine with RadixAttention, structured generation and Trio actors."""

__version__ = "0.1.0"
