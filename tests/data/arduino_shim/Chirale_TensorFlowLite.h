// Test-only stand-in for the Chirale_TensorFlowLite library header: the TFLM tree is on the include path instead.
