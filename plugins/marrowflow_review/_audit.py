"""The docked audit widget: propose a stratified random sample of the open sample's cells to
check, written to reviews/<sample>/audit.csv for the user to fill (column true_type).

Thin: the sample is drawn and written by `marrowflow.review.audit` (propose_audit,
write_audit_proposal); the defaults (cells per type, seed) are the project's `uncertainty` section.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import QFormLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from marrowflow.errors import InputError
from marrowflow.review.audit import AUDIT_NAME, propose_audit, write_audit_proposal
from marrowflow.stats import UncertaintyParams
from marrowflow_review._reader import SESSION_KEY


class AuditWidget(QWidget):
    """Audit of the marrowflow sample open in `napari_viewer` (opened with this plugin's reader)."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        layout = QVBoxLayout(self)
        self.status = QLabel("open a results folder (results/<sample>/) with the marrowflow reader")
        self.status.setWordWrap(True)
        form = QFormLayout()
        self.per_type = QSpinBox(minimum=1, maximum=10_000)
        self.seed = QSpinBox(minimum=0, maximum=2_147_483_647)
        form.addRow("cells per type", self.per_type)
        form.addRow("seed", self.seed)
        self.button = QPushButton("Propose audit")
        self.button.clicked.connect(self.propose)
        layout.addLayout(form)
        layout.addWidget(self.button)
        layout.addWidget(self.status)
        self._defaults()

    def session(self):
        """The review session of the open sample (None when none is open)."""
        return next((layer.metadata[SESSION_KEY] for layer in self.viewer.layers
                     if layer.metadata.get(SESSION_KEY) is not None), None)

    def _defaults(self) -> None:
        session = self.session()
        config = session.project.config if session is not None else None
        params = UncertaintyParams.from_config((config or {}).get("uncertainty"))
        self.per_type.setValue(params.audit_cells_per_type)
        self.seed.setValue(params.seed)

    def propose(self) -> Path | None:
        """Write the proposal to <reviews>/<sample>/audit.csv; return its path (None on error)."""
        session = self.session()
        if session is None:
            self.status.setText("no marrowflow sample is open")
            return None
        table = propose_audit(session.tracks, self.per_type.value(), seed=self.seed.value())
        try:
            path = write_audit_proposal(table, Path(session.review_dir) / AUDIT_NAME)
        except InputError as err:
            self.status.setText(str(err))
            return None
        self.status.setText(f"{len(table)} cells to check: fill the true_type column of {path}, then rerun "
                            "the workflow (it writes audited_counts.csv and audit_errors.csv)")
        return path
