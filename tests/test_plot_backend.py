"""The library's plotting modules build figures without pyplot: importing them and saving a
figure leaves the matplotlib backend that a notebook or napari chose as it was."""

import subprocess
import sys

SCRIPT = """
import sys
import matplotlib
import marrowflow.classify.plots, marrowflow.report.figures, marrowflow.report.lineage_plots
import marrowflow.report.summary
from marrowflow.lineage import count_types
from marrowflow.report import plot_counts_over_time, save_figure
from test_lineage import CLASSES, hand_made_tree

save_figure(plot_counts_over_time(count_types(hand_made_tree(), CLASSES), CLASSES), sys.argv[1])
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""


def test_plotting_keeps_the_callers_backend(tmp_path):
    env = {"MPLBACKEND": "svg", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "counts.png")], capture_output=True,
                         text=True, env=env, cwd=__file__.rsplit("/", 1)[0], timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["svg", "False"]  # not switched to Agg, pyplot never imported
    assert (tmp_path / "counts.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_palette_loads_without_matplotlib_and_every_report_name_resolves():
    code = "import sys, marrowflow.report.palette; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False"], out.stderr  # the plugin's reader reads the palette at open
    import marrowflow.report as report

    assert all(callable(getattr(report, name)) for name in report.__all__)
