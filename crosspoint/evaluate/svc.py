"""The linear SVC of the linear-SVM and few-shot stages: libsvm given the linear kernel's matrix, computed by
:func:`crosspoint.exact.gram` so that its bits depend on no CPU, BLAS kernel or thread count."""

from __future__ import annotations

import numpy as np

from crosspoint import exact


def standardized(x_fit: np.ndarray, x_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both scaled by the per-dimension mean and std of ``x_fit`` (scikit-learn's ``StandardScaler``)."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_fit)
    return scaler.transform(x_fit), scaler.transform(x_pred)


def kernels(x_fit: np.ndarray, x_pred: np.ndarray, standardize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The linear kernel of the fitting rows and of the predicted rows against them (:func:`exact.gram`)."""
    if standardize:
        x_fit, x_pred = standardized(x_fit, x_pred)
    return exact.gram(x_fit), exact.gram(x_pred, x_fit)


def svc_predict(k_fit: np.ndarray, y_fit: np.ndarray, k_pred: np.ndarray, c: float, max_iter: int = -1) -> np.ndarray:
    """``SVC(kernel="linear", C=c)`` fit and prediction, given its kernel matrices (:func:`kernels`).

    The same model as libsvm's own linear kernel, with the dot products computed once, by BLAS, and
    the same on every CPU: libsvm's own evaluates each in scalar code, again in each of the one-vs-one
    problems that holds the pair (40 classes at ModelNet40's size: most of the linear-SVM stage's time),
    through a BLAS ``ddot`` whose summation order depends on the BLAS kernel (pinned by
    ``OPENBLAS_CORETYPE``); the Gram matrix's bits depend on neither."""
    from sklearn.svm import SVC

    return SVC(kernel="precomputed", C=c, max_iter=max_iter).fit(k_fit, y_fit).predict(k_pred)


def linear_svc_predict(x_fit: np.ndarray, y_fit: np.ndarray, x_pred: np.ndarray, c: float, max_iter: int = -1,
                       standardize: bool = False) -> np.ndarray:
    """Fit a linear SVC at ``C=c`` on ``x_fit`` and predict ``x_pred`` (a few-shot episode); with
    ``standardize``, both are first scaled by the per-dimension mean and std of ``x_fit``."""
    k_fit, k_pred = kernels(x_fit, x_pred, standardize)
    return svc_predict(k_fit, y_fit, k_pred, c, max_iter)
