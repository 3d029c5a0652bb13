"""Learning-rate schedules, both Keras built-ins so a saved model's optimizer loads anywhere.

cosine: from the rate down to 5 % of it over all steps (fit's recipe, which the scaling-law sweeps used).
onecycle (Smith & Topin 2019, as in fastai): a linear warm-up from rate / 25 to the rate over the first 30 % of
steps, then a cosine anneal to 10⁻⁴ of it. Adam's β₁ is not cycled: with Adam the rate cycle carries the policy.
"""

ONECYCLE_WARMUP = 0.3
ONECYCLE_DIV = 25.0
ONECYCLE_FINAL = 1e-4
COSINE_FINAL = 0.05


def learning_rate_schedule(kind: str, rate: float, steps: int):
    """The schedule `kind` ("cosine" or "onecycle") reaching `rate` at its peak, over `steps` optimizer steps."""
    from tinyml_kit._tf import keras

    schedules = keras().optimizers.schedules
    if kind == "onecycle":
        warmup = max(1, round(ONECYCLE_WARMUP * steps))
        return schedules.CosineDecay(rate / ONECYCLE_DIV, decay_steps=max(1, steps - warmup), alpha=ONECYCLE_FINAL,
                                     warmup_target=rate, warmup_steps=warmup)
    if kind == "cosine":
        return schedules.CosineDecay(rate, decay_steps=steps, alpha=COSINE_FINAL)
    raise ValueError(f"unknown schedule {kind!r}")
