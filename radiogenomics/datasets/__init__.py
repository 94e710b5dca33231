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
from .follow_up import FOLLOW_UP_MANIFEST, write_follow_up
from .simulate import simulate
from .toy import toy_cohort

__all__ = [
    "DEMO_FILES",
    "FOLLOW_UP_MANIFEST",
    "assemble_demo",
    "demo",
    "load_demo_tables",
    "read_truth",
    "simulate",
    "subtype_recovery",
    "toy_cohort",
    "write_demo_files",
    "write_follow_up",
]
