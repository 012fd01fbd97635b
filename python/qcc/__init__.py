"""qcc: a compiler for quantized neural-network graphs.

Load an ONNX model or a qcc text graph, compile it to machine code for this
machine, and run it on numpy arrays::

    import numpy as np, qcc
    model = qcc.compile("examples/digits_mlp.txt")
    out = model.run({"x": np.zeros((1, 64), np.uint8)})

``qcc.compile`` raises ``qcc.CompileError`` with the message the ``qcc``
command prints; ``Model.run`` checks every feed (``ValueError`` for wrong
names, dtypes and shapes, ``TypeError`` for what is not an array) and
releases the GIL while the model runs.
"""

from .qcc import CompileError, Model, TensorInfo, compile

__all__ = ["CompileError", "Model", "TensorInfo", "compile"]
