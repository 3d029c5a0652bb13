"""The C engine: an int8 .tflite compiled to C calls on CMSIS-NN with a static memory plan (`codegen`), beside
TFLM, which interprets the flatbuffer."""

from tinyml_kit.core.errors import UserError

ENGINES = ("tflm", "c")


def require_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise UserError(f"engine '{engine}' is unknown: choose {' or '.join(ENGINES)}", "engine")
