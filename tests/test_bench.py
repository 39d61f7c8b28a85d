"""``radarkit bench``: the JSON record layout and the ratios it reports (tiny run, not a timing test)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from radarkit.cli.main import cli

FIELDS = {"name", "frames", "seconds_median", "frames_per_s", "ratio_to_numpy", "peak_rss_mb"}


def test_bench_writes_one_record_per_pipeline_and_a_machine_record(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(cli, ["bench", "--frames", "2", "--repeats", "1", "--only", "radarkit-rd",
                                      "--only", "openradar", "--json", str(out)])
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())
    machine = records[-1]
    assert machine["name"] == "machine" and machine["cores"] >= 1 and "numpy" in machine["versions"]
    pipelines = {r["name"]: r for r in records[:-1]}
    assert {"numpy", "radarkit-rd-scipy", "fft-bound"} <= set(pipelines)
    for r in pipelines.values():
        assert FIELDS <= set(r)
        assert r["frames_per_s"] > 0
        assert abs(r["frames_per_s"] - r["frames"] / r["seconds_median"]) <= 1e-6 * r["frames_per_s"]
        assert abs(r["ratio_to_numpy"] - r["frames_per_s"] / pipelines["numpy"]["frames_per_s"]) < 1e-9
    assert "| radarkit-rd-scipy |" in result.output and "% of FFT bound" in result.output
    # the RD pipelines carry a share of the bound measured in pairs, shown in the table as is
    for name in ("numpy", "radarkit-rd-scipy"):
        share = pipelines[name]["fft_bound_share"]
        assert share > 0
        row = next(ln for ln in result.output.splitlines() if ln.startswith(f"| {name} |"))
        assert row.split("|")[4].strip() == f"{100 * share:.0f} %"
    assert pipelines["fft-bound"]["fft_bound_share"] is None
    # the -w2 row carries the 2-thread speed-up over its one-thread pipeline, also paired
    w2 = next(r for name, r in pipelines.items() if name.startswith("radarkit-rd-") and name.endswith("-w2"))
    assert w2["speedup_vs_one_thread"] > 0
    row = next(ln for ln in result.output.splitlines() if ln.startswith(f"| {w2['name']} |"))
    assert row.split("|")[5].strip() == f"{w2['speedup_vs_one_thread']:.2f}"
    assert all(r["speedup_vs_one_thread"] is None
               for name, r in pipelines.items() if not name.endswith("-w2"))
    # and the machine's own ceiling for it: the bound's FFT work split over 2 threads
    assert pipelines["fft-bound-w2"]["speedup_vs_one_thread"] > 0
    assert pipelines["fft-bound-w2"]["fft_bound_share"] is None
    # and the memory-copy bound's, for the RD pipelines' DRAM traffic
    assert pipelines["copy-bound"]["speedup_vs_one_thread"] is None
    assert pipelines["copy-bound-w2"]["speedup_vs_one_thread"] > 0
    again = CliRunner().invoke(cli, ["bench", "--frames", "1", "--repeats", "1", "--json", str(out)])
    assert again.exit_code == 1 and "exists" in again.output  # never overwritten without --force


def test_paired_share_is_the_median_of_bound_over_pipeline_time_per_pair(monkeypatch):
    import radarkit.pipelines.bench as bench

    clock = [0.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    pipeline_costs = iter([9.0, 2.0, 4.0, 1.0])  # warm-up, then three timed passes
    bound_costs = iter([9.0, 1.0, 3.0, 3.0])  # each timed right after its pass

    def advance(costs):
        clock[0] += next(costs)

    one_thread_costs = iter([9.0, 5.0, 4.0, 1.0])  # timed after the bound, in the same pair

    secs, _, ratios = bench._time(lambda: advance(pipeline_costs), 3,
                                  {"bound": lambda: advance(bound_costs),
                                   "one_thread": lambda: advance(one_thread_costs)})
    assert secs == 2.0  # median of 2, 4, 1
    assert ratios["bound"] == 0.75  # median of 1/2, 3/4, 3/1 (each pair on its own; median/median: 1.5)
    assert ratios["one_thread"] == 1.0  # median of 5/2, 4/4, 1/1 (median/median: 2)
    assert bench._time(lambda: None, 2)[2] == {}


def test_copy_bound_moves_each_frame_once_into_its_output_frame():
    import numpy as np

    import radarkit.pipelines.bench as bench
    from radarkit.config.presets import get_preset

    cfg = get_preset("hupr")
    words = np.random.default_rng(0).integers(-2000, 2000, size=3 * cfg.bytes_per_frame // 2, dtype=np.int16)
    out = np.zeros((3, cfg.n_loops, cfg.n_virtual, cfg.n_samples), dtype=np.complex64)
    bench._copy_frames(words, out)
    frames = words.reshape(3, -1).view(np.uint8)
    written = out.reshape(3, -1).view(np.uint8)
    assert written.shape[1] == 2 * frames.shape[1]  # a complex64 RD frame is twice the raw frame
    assert np.array_equal(written[:, :frames.shape[1]], frames)
    assert np.array_equal(written[:, frames.shape[1]:], frames)
