"""Training: data loading and splitting, the training loop (also for fine-tuning and QAT), distillation."""
