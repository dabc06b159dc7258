"""Fold and Unfold: col2im and im2col as layers, over ``F.fold`` and ``F.unfold``."""

from .. import functional as F
from .module import Module

__all__ = ["Fold", "Unfold"]


class Fold(Module):
    """Combine sliding local blocks into an image, summing where they overlap.

    Args:
        output_size: the (H, W) of the output, an int or a pair.
        kernel_size, dilation, padding, stride: an int or a pair.

    Shape: input (N, C * kH * kW, L) or (C * kH * kW, L); output (N, C, H, W) or (C, H, W).
    """

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input):
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                      self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")


class Unfold(Module):
    """Extract sliding local blocks of a batch of images, one column per block.

    Args:
        kernel_size, dilation, padding, stride: an int or a pair.

    Shape: input (N, C, H, W) or (C, H, W); output (N, C * kH * kW, L) or (C * kH * kW, L).
    """

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")
