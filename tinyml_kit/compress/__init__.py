"""Compression after training: structured and magnitude pruning, quantization-aware training, int8 conversion."""
