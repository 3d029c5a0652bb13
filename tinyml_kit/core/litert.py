"""A model on LiteRT's reference kernels (BUILTIN_REF): an int8 one, bit-exact with TFLM's reference kernels, or a
float one (a float reference, a converted model's check)."""

import numpy as np

from tinyml_kit.core.errors import UserError


class LiteRtModel:
    def __init__(self, model: bytes):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        try:
            self._interp = Interpreter(model_content=model,
                                       experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
            self._interp.allocate_tensors()
        except Exception as e:
            raise UserError(f"LiteRT cannot load the model: {str(e).splitlines()[0]}") from None
        self._input = self._interp.get_input_details()[0]
        self._output = self._interp.get_output_details()[0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_all(x)[0]

    def predict_all(self, x: np.ndarray) -> list[np.ndarray]:
        """Every graph output of each image of `x` (already quantized), each stacked over the images."""
        details = self._interp.get_output_details()
        outputs: list[list[np.ndarray]] = [[] for _ in details]
        for image in x:
            pixels = image.reshape(self._input["shape"]).astype(self._input["dtype"])
            self._interp.set_tensor(self._input["index"], pixels)
            self._interp.invoke()
            for out, detail in zip(outputs, details, strict=True):
                out.append(self._interp.get_tensor(detail["index"]).reshape(-1).copy())
        return [np.stack(out) for out in outputs]
