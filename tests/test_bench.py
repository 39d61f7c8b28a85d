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
    again = CliRunner().invoke(cli, ["bench", "--frames", "1", "--repeats", "1", "--json", str(out)])
    assert again.exit_code == 1 and "exists" in again.output  # never overwritten without --force
