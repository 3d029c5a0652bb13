"""The C engine: an int8 .tflite compiled to C calls on CMSIS-NN with a static memory plan (`codegen`), beside
TFLM, which interprets the flatbuffer. The engines as objects are `solve.engines`."""
