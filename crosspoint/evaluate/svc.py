"""A linear SVC fitted on features, and its predictions: the classifier of the few-shot episodes."""

from __future__ import annotations

import numpy as np


def linear_svc_predict(x_fit: np.ndarray, y_fit: np.ndarray, x_pred: np.ndarray, c: float, max_iter: int = -1,
                       standardize: bool = False) -> np.ndarray:
    """Fit ``SVC(kernel="linear", C=c)`` on ``x_fit`` and predict ``x_pred`` (the linear-SVM and few-shot
    stages); with ``standardize``, both are first scaled by the per-dimension mean and std of ``x_fit``
    (scikit-learn's ``StandardScaler``)."""
    from sklearn.svm import SVC

    if standardize:
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(x_fit)
        x_fit, x_pred = scaler.transform(x_fit), scaler.transform(x_pred)
    return SVC(kernel="linear", C=c, max_iter=max_iter).fit(x_fit, y_fit).predict(x_pred)
