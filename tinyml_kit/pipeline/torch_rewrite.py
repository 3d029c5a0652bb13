"""A torch.export program's module made ready for litert-torch (`pipeline.foreign_torch`): two exact rewrites
that keep the board's op list what a Keras model of the same network gives. The module's weights are replaced,
never changed in place: the program itself stays the reference the conversion is checked against.

- PyTorch flattens a (C, H, W) map, which would leave a TRANSPOSE before the flatten once the convolutions run
  NHWC: for a map read by Linear layers only, the flatten is made NHWC and their weights permuted
  (`flattened_nhwc`, as the ONNX importer permutes a Dense layer's rows); any other reader keeps the TRANSPOSE.
- A model taking [0, 1] gets the division by 255 folded into the weights of the convolutions that read the
  image (a convolution is linear in its input, zero padding included); the converter folds a division in front
  itself, but not across the PAD it puts before a convolution padded unlike TensorFlow's `same`, which leaves a
  MUL on the whole image. Any other first layer keeps the division in front (`pixels_in`)."""


def _replace(torch, graph, target: str, change) -> None:
    """The parameter `target` (`"7.weight"`) of `graph` replaced by `change(its value)`."""
    owner, _, name = target.rpartition(".")
    layer = graph.get_submodule(owner)
    setattr(layer, name, torch.nn.Parameter(change(getattr(layer, name).detach()).clone(), requires_grad=False))


def flattened_nhwc(torch, graph):
    """`graph` flattening (H, W, C) where a (C, H, W) map is flattened for Linear layers only: a permute to
    (H, W, C) before the flatten, which cancels against the layout litert-torch gives the convolutions, and the
    Linear weights' columns permuted to match."""
    aten = torch.ops.aten
    for node in list(graph.graph.nodes):
        if node.op != "call_function" or node.target not in (aten.flatten.using_ints, aten.view.default,
                                                             aten.reshape.default):
            continue
        source = node.args[0]
        shape, out = tuple(source.meta["val"].shape), tuple(node.meta["val"].shape)
        readers = list(node.users)
        if (len(shape) != 4 or len(out) != 2 or shape[2] * shape[3] == 1 or not readers
                or any(r.target != aten.linear.default or r.args[0] is not node or r.args[1].op != "get_attr"
                       for r in readers)):
            continue
        chw = shape[1:]
        for target in {reader.args[1].target for reader in readers}:
            _replace(torch, graph, target, lambda w, chw=chw: w.reshape(-1, *chw).permute(0, 2, 3, 1).reshape(w.shape))
        with graph.graph.inserting_before(node):
            node.replace_input_with(source, graph.graph.call_function(aten.permute.default, (source, [0, 2, 3, 1])))
    graph.recompile()
    return graph


def pixels_in(torch, graph, divisor: float):
    """`graph` taking the image multiplied by `divisor` (255 for a model taking [0, 1]): the convolutions reading
    the image get their weights divided, or, where anything else reads it, a division goes in front."""
    if divisor == 1.0:
        return graph
    aten = torch.ops.aten
    image = next(node for node in graph.graph.nodes if node.op == "placeholder")
    readers = [r for r in image.users if r.op == "call_function"]   # not the input guards (a call_module)
    if readers and all(r.target in (aten.conv2d.default, aten.convolution.default) and r.args[0] is image
                       and r.args[1].op == "get_attr" for r in readers):
        for target in {reader.args[1].target for reader in readers}:
            _replace(torch, graph, target, lambda w: w / divisor)
        return graph
    _in_front(graph, image, aten.div.Tensor, divisor)
    return graph


def channels_last(torch, graph):
    """`graph` taking NHWC images: a permute to NCHW in front, inside the graph (as litert-torch's
    `to_channel_last_io` puts it, without its wrapper module, which would hide the modules the converted tensors
    are named after); the input guards read the NCHW image they were written for."""
    _in_front(graph, next(node for node in graph.graph.nodes if node.op == "placeholder"),
              torch.ops.aten.permute.default, [0, 3, 1, 2])
    return graph


def _in_front(graph, image, op, argument) -> None:
    """`op(image, argument)` put between the graph's input `image` and everything that reads it."""
    with graph.graph.inserting_after(image):
        node = graph.graph.call_function(op, (image, argument))
    image.replace_all_uses_with(node, delete_user_cb=lambda user: user is not node)
    graph.recompile()
