"""The typed, TensorFlow-free core every stage shares: boards and budgets, model specs (the PhiNet plan),
TFLite graphs and files, the arena policy, run records, the fit verdict, errors and all-or-nothing output."""
