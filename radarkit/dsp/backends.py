"""FFT and array back ends for the cube kinds: numpy, scipy.fft, pyFFTW (optional) and torch.

Every cube function in :mod:`radarkit.dsp.kinds` takes a ``backend`` and does its array work
through the few operations below, so one implementation runs on numpy arrays (numpy, scipy and
pyFFTW back ends) and on torch tensors (CPU or CUDA; batched, usable inside a ``DataLoader``).
Results agree across back ends to about 1e-6 relative in complex64.

Threading model (``shared/specs/performance.md``: three OpenMP runtimes in one process spin against
each other). radarkit's kernels are single-threaded: scipy.fft runs with ``workers=1``, pyFFTW
plans use one thread, numba kernels are serial, and the torch back end on CPU sets
``torch.set_num_threads(1)`` only when asked (``TorchBackend(threads=1)``). Parallelism comes from
splitting frames across worker threads (``radarkit cube --workers N``); every kernel releases the
GIL (numba ``nogil``, scipy.fft, FFTW, torch). The BLAS behind the angle kinds' matrix products is
limited to one thread while cubes are written (:func:`single_threaded_kernels`).

References
----------
.. [1] M. Frigo and S. G. Johnson, "The Design and Implementation of FFTW3", Proc. IEEE 93(2), 2005.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["Backend", "NumpyBackend", "ScipyBackend", "FFTWBackend", "TorchBackend", "BACKENDS",
           "get_backend", "available_backends", "single_threaded_kernels"]

#: Back-end names accepted by :func:`get_backend`.
BACKENDS = ("numpy", "scipy", "fftw", "torch")


class Backend:
    """Array operations a cube kind needs; subclasses provide ``fft`` and the array namespace.

    Arrays are complex64 / float32 throughout. ``axis`` arguments may be negative.
    """

    name = "base"

    def asarray(self, x: Any) -> Any:
        """``x`` as this back end's array type (no copy when already one)."""
        return np.asarray(x)

    def to_numpy(self, x: Any) -> np.ndarray:
        """``x`` as a numpy array (a copy from the GPU for torch)."""
        return np.asarray(x)

    def is_complex(self, x: Any) -> bool:
        """True for complex arrays."""
        return bool(np.iscomplexobj(x))

    def fft(self, x: Any, axis: int, n: int | None = None) -> Any:
        """Forward FFT ``X[k] = sum_n x[n] exp(-2j pi n k / N)`` along ``axis``, zero-padded or
        cropped to ``n`` points; complex64 result."""
        raise NotImplementedError

    def matmul_axis(self, m: Any, x: Any, axis: int) -> Any:
        """Apply the matrix ``m`` (``(n_out, n_in)``) along ``axis`` of ``x`` (length ``n_in``).

        Done as one large matrix product (the axis moved first and the others flattened), which
        runs at BLAS speed where a broadcast ``m @ x`` over many tiny slices would not.
        """
        axis = axis % x.ndim
        moved = self.moveaxis(x, axis, 0)
        rest = tuple(moved.shape[1:])
        y = m @ moved.reshape(moved.shape[0], -1)
        return self.moveaxis(y.reshape((m.shape[0],) + rest), 0, axis)

    def fftshift(self, x: Any, axis: int) -> Any:
        """Move bin 0 to the centre (index ``N // 2``) along ``axis``."""
        return np.fft.fftshift(x, axes=axis)

    def flip(self, x: Any, axis: int) -> Any:
        """Reverse ``x`` along ``axis``."""
        return np.flip(x, axis=axis)

    def moveaxis(self, x: Any, source: int, destination: int) -> Any:
        """Move one axis (numpy semantics)."""
        return np.moveaxis(x, source, destination)

    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        """Zeros of ``shape`` with ``like``'s dtype (and device)."""
        return np.zeros(shape, dtype=like.dtype)

    def const(self, values: np.ndarray, like: Any) -> Any:
        """A numpy constant (window, phase ramp) as an array usable with ``like``."""
        return np.asarray(values)

    def power(self, x: Any) -> Any:
        """``|x|^2`` as float32."""
        return (x.real * x.real + x.imag * x.imag).astype(np.float32, copy=False)

    def log10(self, x: Any) -> Any:
        """Base-10 logarithm."""
        return np.log10(x)

    def maximum(self, x: Any, floor: float) -> Any:
        """Element-wise ``max(x, floor)``."""
        return np.maximum(x, floor)

    def __repr__(self) -> str:
        return f"<radarkit {self.name} backend>"


class NumpyBackend(Backend):
    """numpy.fft (pocketfft, single-threaded). The reference back end."""

    name = "numpy"

    def fft(self, x, axis, n=None):  # noqa: D102 - see Backend
        return np.fft.fft(x, n=n, axis=axis).astype(np.complex64, copy=False)


class ScipyBackend(Backend):
    """scipy.fft with ``workers=1`` (single precision kept: complex64 in, complex64 out). Default."""

    name = "scipy"

    def __init__(self) -> None:
        import scipy.fft

        self._fft = scipy.fft.fft

    def fft(self, x, axis, n=None):  # noqa: D102 - see Backend
        return self._fft(x, n=n, axis=axis, workers=1).astype(np.complex64, copy=False)


class FFTWBackend(Backend):
    """pyFFTW planned FFTs, one thread per plan (optional extra ``radarkit[fftw]``; FFTW is GPL).

    Plans are built once per (shape, dtype, axis, n) with ``FFTW_MEASURE`` and cached per thread.

    Raises
    ------
    ImportError
        pyFFTW is not installed (``pip install radarkit[fftw]``).
    """

    name = "fftw"

    def __init__(self, planner_effort: str = "FFTW_MEASURE") -> None:
        try:
            import pyfftw
            import pyfftw.builders
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("the fftw backend needs pyFFTW: pip install 'radarkit[fftw]'") from err
        self._pyfftw = pyfftw
        self._effort = planner_effort
        self._local = threading.local()
        pyfftw.interfaces.cache.enable()

    def _plan(self, shape: tuple[int, ...], dtype: np.dtype, axis: int, n: int | None):
        plans = self._local.__dict__.setdefault("plans", {})
        key = (shape, dtype.str, axis, n)
        plan = plans.get(key)
        if plan is None:
            a = self._pyfftw.empty_aligned(shape, dtype=np.complex64)
            plan = self._pyfftw.builders.fft(a, n=n, axis=axis, threads=1,
                                             planner_effort=self._effort, avoid_copy=False)
            plans[key] = plan
        return plan

    def fft(self, x, axis, n=None):  # noqa: D102 - see Backend
        x = np.asarray(x)
        if x.dtype != np.complex64:
            x = x.astype(np.complex64)
        axis = axis % x.ndim
        plan = self._plan(x.shape, x.dtype, axis, n)
        return plan(x).copy()


class TorchBackend(Backend):
    """torch.fft on CPU or CUDA; arrays are torch tensors on ``device``.

    Parameters
    ----------
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default CUDA when available, else CPU.
    threads : int, optional
        If given, ``torch.set_num_threads(threads)`` (process-wide; see the module docstring).
    """

    name = "torch"

    def __init__(self, device: Any = None, threads: int | None = None) -> None:
        import torch

        self.torch = torch
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if threads is not None:
            torch.set_num_threads(int(threads))

    def asarray(self, x):  # noqa: D102 - see Backend
        t = self.torch
        if isinstance(x, t.Tensor):
            return x.to(self.device)
        return t.from_numpy(np.ascontiguousarray(x)).to(self.device)

    def to_numpy(self, x):  # noqa: D102 - see Backend
        if isinstance(x, self.torch.Tensor):
            return x.detach().cpu().numpy()
        return np.asarray(x)

    def is_complex(self, x):  # noqa: D102 - see Backend
        return bool(x.is_complex())

    def fft(self, x, axis, n=None):  # noqa: D102 - see Backend
        return self.torch.fft.fft(x, n=n, dim=axis).to(self.torch.complex64)

    def fftshift(self, x, axis):  # noqa: D102 - see Backend
        return self.torch.fft.fftshift(x, dim=axis)

    def flip(self, x, axis):  # noqa: D102 - see Backend
        return self.torch.flip(x, dims=(axis,))

    def moveaxis(self, x, source, destination):  # noqa: D102 - see Backend
        return self.torch.movedim(x, source, destination)

    def zeros(self, shape, like):  # noqa: D102 - see Backend
        return self.torch.zeros(shape, dtype=like.dtype, device=like.device)

    def const(self, values, like):  # noqa: D102 - see Backend
        values = np.asarray(values)
        if np.iscomplexobj(values):
            values = values.astype(np.complex64)
        elif values.dtype.kind == "f":
            values = values.astype(np.float32)
        return self.torch.from_numpy(np.ascontiguousarray(values)).to(like.device)

    def power(self, x):  # noqa: D102 - see Backend
        return (x.real * x.real + x.imag * x.imag).to(self.torch.float32)

    def log10(self, x):  # noqa: D102 - see Backend
        return self.torch.log10(x)

    def maximum(self, x, floor):  # noqa: D102 - see Backend
        return self.torch.clamp(x, min=floor)

    def __repr__(self) -> str:
        return f"<radarkit torch backend on {self.device}>"


def single_threaded_kernels():
    """Context manager limiting BLAS/OpenMP thread pools (OpenBLAS, MKL, OpenMP) to one thread.

    radarkit's cube workers are threads that each run single-threaded kernels; a BLAS library
    spinning up its own threads inside each of them would oversubscribe the cores (the matrix
    products of the angle kinds go through BLAS). Uses ``threadpoolctl``; torch's own pool is not
    touched (see :class:`TorchBackend`).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


_CACHE: dict[tuple[str, str], Backend] = {}
_LOCK = threading.Lock()


def get_backend(name: str | Backend | None = "scipy", device: Any = None) -> Backend:
    """The back end called ``name`` (instances are cached; a :class:`Backend` is returned as is).

    Parameters
    ----------
    name : {"numpy", "scipy", "fftw", "torch"} or Backend or None
        None means ``"scipy"``.
    device : str, optional
        torch device (``"cpu"``, ``"cuda"``); torch back end only.

    Raises
    ------
    ValueError
        Unknown name, or a device given for a numpy-based back end.
    ImportError
        ``"fftw"`` without pyFFTW installed.
    """
    if isinstance(name, Backend):
        return name
    name = "scipy" if name is None else name
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")
    if device is not None and name != "torch":
        raise ValueError(f"a device applies to the torch backend only, not {name!r}")
    key = (name, str(device))
    with _LOCK:
        if key not in _CACHE:
            cls = {"numpy": NumpyBackend, "scipy": ScipyBackend, "fftw": FFTWBackend,
                   "torch": TorchBackend}[name]
            _CACHE[key] = cls(device) if name == "torch" else cls()
        return _CACHE[key]


def available_backends() -> list[str]:
    """Names of the back ends importable here (``fftw`` only with pyFFTW installed)."""
    names = ["numpy", "scipy"]
    try:
        import pyfftw  # noqa: F401
        names.append("fftw")
    except ImportError:
        pass
    try:
        import torch  # noqa: F401
        names.append("torch")
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return names
