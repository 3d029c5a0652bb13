"""Evidence about a model: LiteRT and TFLM runs, validation across runtimes, per-layer analysis, Grad-CAM and
probes, and verification on an emulated Cortex-M."""
