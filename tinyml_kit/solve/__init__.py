"""Choosing a model without training or TensorFlow: analytic costs, the predicted .tflite size and TFLM arena,
the scaling law of accuracy against parameters, and the solver that ranks configurations against a budget."""
