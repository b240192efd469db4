"""facexai: how convolutional networks judge faces, and which parts of a face drive each judgement."""

__version__ = "0.1.0"
