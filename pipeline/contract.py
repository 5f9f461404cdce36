"""Names of the data contract that every step shares (see DESIGN.md, "Data contract")."""

UNKNOWN = "unknown"
"""The `cell_type` of a cell that no configured class claims."""
