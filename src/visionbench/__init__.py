"""visionbench: what techniques for cheaper computer-vision training really buy."""

__version__ = "0.1.0"
