"""FULLY_CONNECTED as LiteRT computes it: its int8 reference kernel (per-channel or per-tensor weights) rescales
each int32 sum with a single rounding (LiteRT's reference_integer_ops::FullyConnected{,PerChannel} overloads that
take the scales: `round(acc * (double)s_in * s_w / s_out)`; here the 64-bit product with the Q31 multiplier and one
round-half-up shift by 31 - shift, which equals it on all but 6 of 40,000,000 random sums, where the multiplier's
own rounding crosses a half), not the double rounding (`SaturatingRoundingDoublingHighMul` then
`RoundingDivideByPOT`) of CMSIS-NN's `arm_fully_connected_s8`, of TFLM's reference kernel and of the
convolutions (see `check.op_difference`). The two differ by one where
the product lies just under a tie of the final shift (measured: 19 of 20,000 outputs of a random per-channel
layer, 42 of 20,000 of a per-tensor one), so this layer is generated here rather than called in CMSIS-NN. A
classifier's dense layer is small: the plain loop costs little next to the convolutions."""

from tinyml_kit.engine.ir import Function

FULLY_CONNECTED = Function("tinyml_fully_connected_s8", """\
/* FULLY_CONNECTED, int8: each sum rescaled with a single rounding, as LiteRT's kernel; the multiplier and shift
 * per output channel (per_channel 1) or one for all (0). */
static void tinyml_fully_connected_s8(const cmsis_nn_fc_params *p, const cmsis_nn_quant_params *q,
                                      const int8_t *in, const int8_t *w, const int32_t *bias, int8_t *out,
                                      int32_t batches, int32_t accum, int32_t depth,
                                      int32_t per_channel) {
  for (int32_t b = 0; b < batches; ++b, in += accum, out += depth) {
    const int8_t *row = w;
    for (int32_t c = 0; c < depth; ++c, row += accum) {
      int32_t acc = bias ? bias[c] : 0;
      for (int32_t k = 0; k < accum; ++k) acc += (in[k] + p->input_offset) * (row[k] + p->filter_offset);
      const int32_t total_shift = 31 - q->shift[c * per_channel];
      const int64_t product = (int64_t)acc * q->multiplier[c * per_channel];
      const int64_t scaled = (product + ((int64_t)1 << (total_shift - 1))) >> total_shift;
      const int64_t v = scaled + p->output_offset;
      out[c] = (int8_t)(v < p->activation.min ? p->activation.min : (v > p->activation.max ? p->activation.max : v));
    }
  }
}""")
