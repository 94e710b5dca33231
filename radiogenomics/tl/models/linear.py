"""The penalised logistic regression shared by the learners and the L1-path selection."""

from __future__ import annotations

import sklearn
from sklearn.linear_model import LogisticRegression

__all__ = ["logistic"]

_NEW_LOGISTIC = tuple(int(v) for v in sklearn.__version__.split(".")[:2]) >= (1, 8)


def logistic(C: float = 1.0, l1_ratio: float = 0.0, **kwargs) -> LogisticRegression:
    """A penalised logistic regression (L2 when ``l1_ratio=0``, L1 when 1, elastic net in
    between), with the solver suited to the penalty, across scikit-learn versions.

    Examples
    --------
    >>> from radiogenomics.tl.models.linear import logistic
    >>> logistic(C=0.5, l1_ratio=1.0).solver
    'liblinear'
    """
    solver = "newton-cholesky" if l1_ratio == 0 else ("liblinear" if l1_ratio == 1 else "saga")
    options = {"C": C, "solver": solver, "max_iter": 5000 if solver == "saga" else 500}
    if _NEW_LOGISTIC:
        options["l1_ratio"] = l1_ratio
    else:  # scikit-learn < 1.8 names the penalty
        options["penalty"] = {0.0: "l2", 1.0: "l1"}.get(float(l1_ratio), "elasticnet")
        if options["penalty"] == "elasticnet":
            options["l1_ratio"] = l1_ratio
    options.update(kwargs)
    return LogisticRegression(**options)
