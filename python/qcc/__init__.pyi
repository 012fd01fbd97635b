"""Type stubs of the qcc extension (``qcc/qcc`` built from ``python/src/lib.rs``)."""

import os
from typing import Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

class CompileError(Exception):
    """A model that could not be loaded or compiled; ``str(e)`` is the
    located, rendered message the ``qcc`` command prints."""

class TensorInfo:
    """A graph input or output."""

    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> str:
        """The numpy dtype of its arrays (``"uint8"``, ``"float32"``, ...)."""
    @property
    def storage(self) -> str:
        """qcc's storage type (``"u8"``, ``"i4"``, ``"f32"``, ...)."""
    @property
    def range(self) -> Optional[Tuple[int, int]]:
        """The values an integer tensor may hold, inclusive; None for float."""
    @property
    def shape(self) -> Tuple[int, ...]: ...
    @property
    def scale(self) -> Union[float, List[float], None]:
        """A float (per tensor), a list (per axis), or None (not quantized)."""
    @property
    def zero_point(self) -> Union[int, List[int], None]: ...
    @property
    def axis(self) -> Optional[int]:
        """The quantized axis of a per-axis type, else None."""

class Model:
    """A compiled model: the graph after the passes and its machine code."""

    @property
    def inputs(self) -> List[TensorInfo]: ...
    @property
    def outputs(self) -> List[TensorInfo]: ...
    def run(self, feeds: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run the machine code; ``ValueError`` / ``TypeError`` on bad feeds.
        Releases the GIL while it runs."""
    def run_interpreter(self, feeds: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run the reference interpreter on the same compiled graph."""
    def emit(self, kind: Literal["graph", "dot", "clif", "asm"]) -> str:
        """The compiled model as text, as ``qcc compile --emit KIND`` prints it."""

def compile(
    model: Union[str, bytes, bytearray, "os.PathLike[str]"],
    *,
    dims: Optional[Mapping[str, int]] = None,
    target: Literal["host", "portable", "vnni", "amx"] = "host",
    threads: int = 1,
    passes: Union[None, str, Sequence[str]] = None,
) -> Model:
    """Compile an ONNX model or a qcc text graph (a path, the model's bytes,
    or the text of a graph); raises ``CompileError``."""

__all__: List[str]
