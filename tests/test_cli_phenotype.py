"""`marrowflow phenotype` (bring your own table) and `marrowflow train-classifier`."""

import numpy as np
import pandas as pd
import pytest

from marrowflow.cli import main, read_gates

from test_classify import make_cells

WORKFLOW = """classification:
  order: hierarchy
  classes:
    - {name: immune, when: {CD45: pos}}
    - {name: other, when: {CD45: neg}}
    - {name: T, parent: immune, when: {CD3: pos}}
"""


def test_cycif_published_phenotypes_reproduced(shared_data, tmp_path, capsys):
    """SCIMAP's example: 3,029 cells, 33 rescaled markers, hierarchy of 31 rules, gate 0.5."""
    folder = shared_data / "scimap-cycif-celltables" / "example_data"
    out = tmp_path / "typed.csv"
    rc = main(["phenotype", str(folder / "rescaled_markers_with_phenotype.csv"),
               str(folder / "phenotype_workflow.csv"), "-o", str(out), "--gate", "0.5",
               "--truth-column", "phenotype", "--label", "marrowflow_phenotype"])
    assert rc == 0
    typed = pd.read_csv(out)
    assert len(typed) == 3029
    agreement = (typed["marrowflow_phenotype"] == typed["phenotype"]).mean()
    assert agreement >= 0.98
    printed = capsys.readouterr().out
    assert "agreement with phenotype" in printed and "Tumor CD45- CD30+ -> Tumor CD45- CD30+" in printed


def test_yaml_workflow_with_gates_file_parquet(tmp_path):
    table = pd.DataFrame({"CD45": [2000.0, 2000.0, 5.0, 3000.0], "mean_CD3": [900.0, 3.0, 900.0, 1500.0],
                          "truth": ["T", "immune", "other", "T"]})
    table.to_parquet(tmp_path / "cells.parquet")
    (tmp_path / "wf.yaml").write_text(WORKFLOW)
    (tmp_path / "gates.csv").write_text("marker,gate\nCD45,6.0\nCD3,5.0\n")  # log1p units, as SCIMAP
    rc = main(["phenotype", str(tmp_path / "cells.parquet"), str(tmp_path / "wf.yaml"), "-o",
               str(tmp_path / "out.parquet"), "--gates", str(tmp_path / "gates.csv"),
               "--thresholds-out", str(tmp_path / "th.csv")])
    assert rc == 0
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out["phenotype"]) == list(table["truth"])
    assert set(pd.read_csv(tmp_path / "th.csv")["feature"]) == {"CD45", "CD3"}
    # the same cutoffs in the table's own units
    (tmp_path / "gates.csv").write_text("marker,gate\nCD45,400\nCD3,150\n")
    main(["phenotype", str(tmp_path / "cells.parquet"), str(tmp_path / "wf.yaml"), "-o",
          str(tmp_path / "out.csv"), "--gates", str(tmp_path / "gates.csv"), "--no-log"])
    assert list(pd.read_csv(tmp_path / "out.csv")["phenotype"]) == list(table["truth"])
    # tab-separated in, tab-separated out
    table.to_csv(tmp_path / "cells.tsv", sep="\t", index=False)
    main(["phenotype", str(tmp_path / "cells.tsv"), str(tmp_path / "wf.yaml"), "-o", str(tmp_path / "out.tsv"),
          "--gates", str(tmp_path / "gates.csv"), "--no-log"])
    assert list(pd.read_csv(tmp_path / "out.tsv", sep="\t")["phenotype"]) == list(table["truth"])


def test_auto_thresholds_without_gates(tmp_path):
    cells, truth = make_cells(n=300, seed=9)
    cells.to_csv(tmp_path / "c.csv", index=False)
    (tmp_path / "wf.yaml").write_text(
        "classes:\n" + "".join(f"  - {{name: {c}, when: {{{m}: pos}}}}\n" for c, m in
                               [("progenitor", "CD34"), ("erythroid", "CD235a"), ("myeloid", "MPO"),
                                ("megakaryocyte", "CD41")]))
    assert main(["phenotype", str(tmp_path / "c.csv"), str(tmp_path / "wf.yaml"), "-o", str(tmp_path / "o.csv"),
                 "--sample-column", "sample"]) == 0
    assert (pd.read_csv(tmp_path / "o.csv")["phenotype"].to_numpy() == truth).mean() > 0.99


def test_errors_are_one_clear_line(tmp_path, capsys):
    (tmp_path / "wf.yaml").write_text(WORKFLOW)
    assert main(["phenotype", str(tmp_path / "missing.csv"), str(tmp_path / "wf.yaml"), "-o", "x.csv"]) == 1
    err = capsys.readouterr().err
    assert "missing.csv: expected a csv table, found no such file" in err and "one row per cell" in err
    assert len(err.strip().splitlines()) == 1
    pd.DataFrame({"CD45": [1.0]}).to_csv(tmp_path / "t.csv", index=False)
    assert main(["phenotype", str(tmp_path / "t.csv"), str(tmp_path / "wf.yaml"), "-o", str(tmp_path / "x.xlsx"),
                 "--gate", "0.5"]) == 1
    assert "x.xlsx: expected a table file ending in .parquet, .pq, .csv, .tsv" in capsys.readouterr().err
    assert not (tmp_path / "x.xlsx").exists()
    (tmp_path / "broken.parquet").write_text("not parquet")
    assert main(["phenotype", str(tmp_path / "broken.parquet"), str(tmp_path / "wf.yaml"), "-o", "x.csv"]) == 1
    assert "broken.parquet: expected a readable parquet table" in capsys.readouterr().err
    assert main(["phenotype", str(tmp_path / "t.csv"), str(tmp_path / "wf.yaml"), "-o", "x.csv",
                 "--gate", "0.5", "--gates", "g.csv"]) == 1
    assert "either --gate" in capsys.readouterr().err
    assert main(["phenotype", str(tmp_path / "t.csv"), str(tmp_path / "wf.yaml"), "-o", "x.csv",
                 "--label", "CD45"]) == 1
    assert "--label" in capsys.readouterr().err
    assert main(["phenotype", str(tmp_path / "t.csv"), str(tmp_path / "wf.yaml"), "-o", str(tmp_path / "x.csv"),
                 "--truth-column", "nope"]) == 1
    assert "nope" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()
    with pytest.raises(SystemExit):
        main(["phenotype", str(tmp_path / "t.csv")])


def test_read_gates_per_image(tmp_path):
    (tmp_path / "g.csv").write_text("markers,img1,img2\nCD3,7.0,7.5\n")
    g = read_gates(tmp_path / "g.csv")
    assert g.to_dict("records") == [{"sample": "img1", "feature": "CD3", "threshold": 7.0},
                                    {"sample": "img2", "feature": "CD3", "threshold": 7.5}]


def test_train_classifier_command(tmp_path, capsys):
    cells, truth = make_cells(n=120, seed=11)
    (tmp_path / "results" / "s1").mkdir(parents=True)
    cells.to_parquet(tmp_path / "results" / "s1" / "cells.parquet")
    (tmp_path / "reviews" / "s1").mkdir(parents=True)
    pick = np.arange(0, 120, 2)
    pd.DataFrame({"frame": cells.frame[pick], "label": cells.label[pick], "cell_type": truth[pick]}).to_csv(
        tmp_path / "reviews" / "s1" / "cell_types.csv", index=False)
    rc = main(["train-classifier", str(tmp_path / "results" / "s1" / "cells.parquet"), "--reviews",
               str(tmp_path / "reviews"), "-o", str(tmp_path / "m.skops"), "--n-estimators", "20",
               "--cv-folds", "3"])
    assert rc == 0 and (tmp_path / "m.skops").is_file()
    assert "cross-validated accuracy" in capsys.readouterr().out
