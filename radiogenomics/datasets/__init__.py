"""The synthetic demo cohort (images, masks, molecular and clinical tables, planted truth)."""

from .demo import (
    DEMO_FILES,
    assemble_demo,
    demo,
    load_demo_tables,
    read_truth,
    subtype_recovery,
    write_demo_files,
)
from .simulate import simulate

__all__ = [
    "DEMO_FILES",
    "assemble_demo",
    "demo",
    "load_demo_tables",
    "read_truth",
    "simulate",
    "subtype_recovery",
    "write_demo_files",
]
