"""Benchmark: 2-D CA-CFAR throughput, and raw ADC -> point cloud against OpenRadar's demo chain.

Part 1: 2-D CA-CFAR on maps of 64 Doppler x 256 range bins (guard 2,2, train 8,4, Doppler wrapped)
on one thread: radarkit's numba summed-area-table kernel (a batch of maps per call, and one map
per call) against the same detector built from ``scipy.ndimage.uniform_filter`` (two box sums:
window minus guard), measured in the same run. Target (issue 4): >= 20,000 maps/s.

Part 2: raw int16 DCA1000 frames -> detections on the HuPR configuration (preset ``iwr1843-3tx``:
64 loops x 3 TX x 4 RX x 256 samples, 786,432 B/frame), with a few simulated targets in noise:

* radarkit: the planned Range-Doppler hot path (:class:`radarkit.dsp.plan.RDPlan`: one numba pass
  decodes, windows and fftshift-modulates, then range and Doppler FFTs with scipy.fft or, when the
  optional pyFFTW is installed, FFTW), power summed over the 12 virtual antennas (numba), 2-D
  CA-CFAR, peak grouping, and per detection TDM Doppler compensation, azimuth FFT with
  interpolation and elevation -> points (x, y, z); in chunks of 16 frames (as ``radarkit detect``
  runs) and one frame at a time; and the unplanned chain (``decode_frames`` + ``range_doppler``);
* OpenRadar (``openradar`` package, ``import mmwave``): its demo chain per frame -
  ``DCA1000.organize``, ``range_processing`` and ``doppler_processing`` (Hann windows, as radarkit),
  then two 1-D CA passes (``ca_`` along Doppler and along range with ``np.apply_along_axis``) and
  their intersection - detections only, no angles.

Target (issue 4): radarkit >= 4x OpenRadar's frames/s. The machine may be shared: both wall-clock
and CPU-time (this thread) rates are printed; ratios are taken within the run.

Usage: ``python benchmarks/bench_cfar.py [--maps 2000] [--frames 64] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def _timeit(fn, repeat: int) -> tuple[float, float]:
    """Best wall-clock and best thread-CPU seconds of ``repeat`` runs of ``fn()``."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.thread_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.thread_time() - c)
    return min(walls), min(cpus)


def bench_cfar(n_maps: int, repeat: int) -> dict:
    from scipy import ndimage

    from radarkit.detect.cfar import CfarParams, ca_threshold_factor, cfar_2d

    params = CfarParams(kind="ca", guard=(2, 2), train=(8, 4), pfa=1e-4)
    maps = np.random.default_rng(0).exponential(size=(n_maps, 64, 256)).astype(np.float32)
    outer, inner = (21, 13), (5, 5)
    n_train = 21 * 13 - 25
    alpha = ca_threshold_factor(n_train, 1e-4)

    def uniform_filter_ca(m: np.ndarray) -> np.ndarray:
        # CA-CFAR from two box means (zero padding along range: full-window N everywhere)
        big = ndimage.uniform_filter(m, outer, mode=("wrap", "constant")) * (outer[0] * outer[1])
        small = ndimage.uniform_filter(m, inner, mode=("wrap", "constant")) * (inner[0] * inner[1])
        return m > alpha * (big - small) / n_train

    cfar_2d(maps[:2], params)  # compile / load the numba cache
    res = {}
    wall, cpu = _timeit(lambda: cfar_2d(maps, params), repeat)
    res["radarkit_batch"] = (n_maps / wall, n_maps / cpu)
    k = min(n_maps, 500)
    wall, cpu = _timeit(lambda: [cfar_2d(maps[i], params) for i in range(k)], repeat)
    res["radarkit_per_map"] = (k / wall, k / cpu)
    wall, cpu = _timeit(lambda: [uniform_filter_ca(maps[i]) for i in range(k)], repeat)
    res["uniform_filter_per_map"] = (k / wall, k / cpu)
    # agreement away from the range edges (where uniform_filter's zero padding differs)
    a = cfar_2d(maps[:50], params)[..., 6:-6]
    b = np.stack([uniform_filter_ca(maps[i]) for i in range(50)])[..., 6:-6]
    res["mask_agreement_interior"] = float(np.mean(a == b))
    return res


def _raw_words(n_frames: int):
    from radarkit.config.presets import get_preset
    from radarkit.coords import spherical_to_cartesian
    from radarkit.io.layout import encode_frames
    from radarkit.sim.point_targets import simulate_point_targets

    cfg = get_preset("iwr1843-3tx")
    targets = [(2.0, -0.3, 0.0), (3.5, 0.1, 0.1), (5.0, 0.4, 0.0), (7.0, -0.1, -0.1)]
    pos = np.array([spherical_to_cartesian(*t) for t in targets])
    vel = np.array([[0, 0.5, 0], [0, -1.0, 0], [0.2, 0, 0], [0, 0, 0]])
    raw = simulate_point_targets(cfg, pos, vel, amplitudes=[300, 200, 200, 150], n_frames=n_frames,
                                 noise_std=20.0, seed=0)
    return cfg, encode_frames(raw, cfg).reshape(n_frames, -1)


def bench_chain(n_frames: int, repeat: int) -> dict:
    from mmwave import dsp
    from mmwave.dataloader import DCA1000
    from mmwave.dsp.utils import Window

    from radarkit.detect.pointcloud import PointCloudParams, points_from_rd
    from radarkit.dsp.range_doppler import range_doppler
    from radarkit.dsp.windows import get_window
    from radarkit.io.layout import decode_frames

    cfg, words = _raw_words(n_frames)
    window = get_window("hann", cfg.n_samples)
    params = PointCloudParams()

    def radarkit_chain(chunk: int) -> int:
        n_points = 0
        for first in range(0, n_frames, chunk):
            raw = decode_frames(words[first:first + chunk], cfg, window=window)
            rd = range_doppler(raw, None, "hann", clutter_removal=False, output="complex", combine="none")
            n_points += len(points_from_rd(rd, cfg, params))
        return n_points

    n_chirps = cfg.n_loops * cfg.n_tx

    def openradar_chain() -> int:
        n_det = 0
        for f in range(n_frames):
            frame = DCA1000.organize(words[f], n_chirps, cfg.n_rx, cfg.n_samples)
            radar_cube = dsp.range_processing(frame, window_type_1d=Window.HANNING)
            det_matrix, _ = dsp.doppler_processing(radar_cube, num_tx_antennas=cfg.n_tx,
                                                   clutter_removal_enabled=False,
                                                   window_type_2d=Window.HANNING)
            fft2d_sum = det_matrix.astype(np.int64)
            thr_doppler, _ = np.apply_along_axis(func1d=dsp.ca_, axis=0, arr=fft2d_sum.T, l_bound=1.5,
                                                 guard_len=4, noise_len=16)
            thr_range, _ = np.apply_along_axis(func1d=dsp.ca_, axis=0, arr=fft2d_sum, l_bound=2.5,
                                               guard_len=4, noise_len=16)
            mask = (det_matrix > thr_doppler.T) & (det_matrix > thr_range)
            n_det += len(np.argwhere(mask))
        return n_det

    from radarkit.dsp.plan import RDPlan

    try:
        import pyfftw  # noqa: F401 - optional (GPL) extra

        backend = "fftw"
    except ImportError:
        backend = "scipy"
    plans = {b: RDPlan(cfg, "hann", "hann", clutter_removal=False, backend=b) for b in ("scipy", backend)}

    def radarkit_plan_chain(chunk: int, b: str) -> int:
        n_points = 0
        for first in range(0, n_frames, chunk):
            rd = plans[b](words[first:first + chunk])
            n_points += len(points_from_rd(rd, cfg, params))
        return n_points

    radarkit_chain(16)  # warm-up: numba caches, FFT plans
    for b in plans:
        for chunk in (16, 1):
            radarkit_plan_chain(chunk, b)
    openradar_chain()
    res = {}
    for chunk in (16, 1):
        for b in plans:
            wall, cpu = _timeit(lambda c=chunk, b=b: radarkit_plan_chain(c, b), repeat)
            res[f"radarkit_rdplan_{b}_chunk{chunk}"] = (n_frames / wall, n_frames / cpu)
    wall, cpu = _timeit(lambda: radarkit_chain(16), repeat)
    res["radarkit_range_doppler_chunk16"] = (n_frames / wall, n_frames / cpu)
    wall, cpu = _timeit(openradar_chain, repeat)
    res["openradar"] = (n_frames / wall, n_frames / cpu)
    res["points_per_frame"] = radarkit_chain(16) / n_frames
    res["openradar_detections_per_frame"] = openradar_chain() / n_frames
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=2000, help="CFAR maps per timing")
    parser.add_argument("--frames", type=int, default=64, help="raw frames per timing")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    cfar_res = bench_cfar(args.maps, args.repeat)
    print("2-D CA-CFAR, 64 x 256 maps, one thread (maps/s: wall-clock | thread CPU)")
    for key in ("radarkit_batch", "radarkit_per_map", "uniform_filter_per_map"):
        print(f"  {key:<26} {cfar_res[key][0]:>10,.0f} | {cfar_res[key][1]:>10,.0f}")
    base = cfar_res["uniform_filter_per_map"]
    for key in ("radarkit_batch", "radarkit_per_map"):
        print(f"  ratio {key} / uniform_filter: {cfar_res[key][0] / base[0]:.1f}x wall, "
              f"{cfar_res[key][1] / base[1]:.1f}x CPU")
    print(f"  mask agreement with uniform_filter away from range edges: "
          f"{cfar_res['mask_agreement_interior']:.6f}")

    chain = bench_chain(args.frames, args.repeat)
    print("raw int16 -> detections, iwr1843-3tx (frames/s: wall-clock | thread CPU)")
    keys = [k for k in chain if k.startswith("radarkit_")]
    for key in [*keys, "openradar"]:
        print(f"  {key:<34} {chain[key][0]:>10,.1f} | {chain[key][1]:>10,.1f}")
    for key in keys:
        print(f"  ratio {key} / openradar: {chain[key][0] / chain['openradar'][0]:.1f}x wall, "
              f"{chain[key][1] / chain['openradar'][1]:.1f}x CPU")
    print(f"  radarkit points/frame {chain['points_per_frame']:.1f}, OpenRadar detections/frame "
          f"{chain['openradar_detections_per_frame']:.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cfar": cfar_res, "chain": chain}, fh, indent=2)


if __name__ == "__main__":
    main()
