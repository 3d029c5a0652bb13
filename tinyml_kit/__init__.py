"""tinyml-kit: fit a checked int8 image classifier into a microcontroller board.

Importing the package stays cheap: TensorFlow is loaded only by the stages that need it (see `_tf`).
"""

__version__ = "0.1.0"
