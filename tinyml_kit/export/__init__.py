"""Everything written for a device: C sources, the op resolver, Arduino and STM32 projects, ONNX, the toolchain."""
