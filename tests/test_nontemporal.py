"""Streaming-store copies (radarkit.dsp.nontemporal): exact, at any alignment, visible to other threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from radarkit.dsp.nontemporal import STREAMING_STORES, stream_copy


@pytest.mark.parametrize("offset", range(0, 40, 8))
@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 7, 37, 1000])
def test_stream_copy_equals_the_source_at_every_alignment_and_length(offset, n):
    rng = np.random.default_rng(n + offset)
    src = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    room = np.zeros(n * 8 + 64, dtype=np.uint8)
    start = (-room.ctypes.data % 32) + offset  # dst starts `offset` bytes past a 32-byte boundary
    dst = room[start:start + n * 8].view(np.complex64)
    guard = room.copy()
    stream_copy(src, dst)
    np.testing.assert_array_equal(dst, src)
    outside = np.ones(room.size, dtype=bool)
    outside[start:start + n * 8] = False
    np.testing.assert_array_equal(room[outside], guard[outside])  # nothing written around it


def test_stream_copy_of_sizes_that_are_not_whole_words_falls_back_to_an_exact_copy():
    src = np.arange(13, dtype=np.int16)
    dst = np.zeros(13, dtype=np.int16)
    stream_copy(src, dst)
    np.testing.assert_array_equal(dst, src)


def test_stream_copy_result_is_complete_when_another_thread_reads_it():
    src = np.arange(1 << 18, dtype=np.float64)
    dsts = [np.zeros_like(src) for _ in range(8)]
    with ThreadPoolExecutor(2) as pool:
        for dst in dsts:
            pool.submit(stream_copy, src, dst).result()
            assert dst[-1] == src[-1] and np.array_equal(dst, src)


def test_stream_copy_rejects_mismatched_or_strided_arrays():
    with pytest.raises(ValueError, match="equal shapes"):
        stream_copy(np.zeros(4), np.zeros(5))
    with pytest.raises(ValueError, match="equal shapes"):
        stream_copy(np.zeros(4), np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        stream_copy(np.zeros(4), np.zeros(8)[::2])


@pytest.mark.skipif(not STREAMING_STORES, reason="streaming stores are x86-64 only")
def test_the_copy_kernel_is_compiled_to_streaming_stores_and_a_store_fence():
    import numba

    from radarkit.dsp.nontemporal import _stream_copy_u64

    kernel = numba.njit(_stream_copy_u64.py_func)  # uncached: numba cannot show cached machine code
    words = np.arange(64, dtype=np.uint64)
    out = np.zeros_like(words)
    kernel(words, out, (-out.ctypes.data % 32) // 8)  # scalar stores up to a 32-byte boundary
    np.testing.assert_array_equal(out, words)
    asm = "\n".join(kernel.inspect_asm().values()).lower()
    assert "vmovnt" in asm or "movntdq" in asm or "movntps" in asm  # the 32-byte stores
    assert "movnti" in asm  # the scalar head and tail
    assert "sfence" in asm
