"""The .tflite as TFLM needs it on the device: the same operators, weights and quantization, without what only
tools read.

The converter writes every tensor's name (a large share of a small model's file: 8.0 KB of the 92.8 KB of a
35 k-parameter PhiNet), the signature, a description, and one int64 zero point per channel for every per-channel
quantized tensor, although weights and biases are symmetric (all zero points 0: 20.7 KB of that PhiNet). TFLM
reads none of the names and signatures, and its allocator takes a single zero point for a per-channel tensor
("as a space-saving optimization, zero point arrays for weights can be reduced to a single value",
`micro_allocator.cc`), so it builds the same tensors and the same arena from the compact file. LiteRT refuses
that form (it requires as many zero points as scales), so host checks run the converter's file and TFLM runs
this one: comparing the two is the proof that nothing the kernels use was touched.

The compact file is what a TFLM firmware links, so its size is the model's flash on TFLM (`tflm_flash_bytes`):
every command budgets, measures and reports that figure, and the converter's file size only beside it.
"""

from functools import lru_cache

from tinyml_kit.core.tflite_info import model_object

KEPT_METADATA = {"OfflineMemoryAllocation"}   # the only metadata TFLM reads (offline-planned arenas)


def tflm_flash_bytes(flatbuffer: bytes) -> int:
    """The flash a TFLM firmware gives the model: the size of its compact flatbuffer."""
    return len(compact_flatbuffer(flatbuffer))


@lru_cache(maxsize=4)
def compact_flatbuffer(flatbuffer: bytes) -> bytes:
    """`flatbuffer` without tensor names, signatures, description and unread metadata, and with one zero point on
    each per-channel tensor whose zero points are all 0. Tensor, operator and buffer order are kept. Cached: one
    run measures, checks and exports the same model, and a 600 KB model takes ~50 ms to rewrite."""
    import flatbuffers

    model = model_object(flatbuffer)
    for subgraph in model.subgraphs or []:
        subgraph.name = None
        for tensor in subgraph.tensors or []:
            tensor.name = None
            q = tensor.quantization
            if q is not None and q.zeroPoint is not None and len(q.zeroPoint) > 1 and not any(q.zeroPoint):
                q.zeroPoint = [0]
    model.signatureDefs = None
    model.description = None
    kept = [m for m in model.metadata or [] if (m.name or b"").decode() in KEPT_METADATA]
    dropped = {m.buffer for m in model.metadata or []} - {m.buffer for m in kept}
    for index in dropped:            # emptied, not removed: buffer indices elsewhere stay valid
        model.buffers[index].data = None
    model.metadata = kept or None
    builder = flatbuffers.Builder(len(flatbuffer))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
