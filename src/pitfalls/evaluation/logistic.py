"""Standardised, L2-regularised logistic regression for the label probe, on SciPy's L-BFGS-B.

The model and its fit are those of scikit-learn's
`make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))`: the same objective
(mean cross-entropy plus ||W||^2 / (2 C n), intercepts free; a single weight vector for two
classes, one per class for more), the same optimiser, start and stopping rule, so the
probabilities agree to the optimiser's tolerance (a test holds them close). It is written here
because scikit-learn's import (with the SciPy statistics it pulls in) costs about 0.6 s of CPU,
a tenth of a default scan of 2,500 images on two cores, and the probe needs nothing else from it.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit, softmax


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets scaled by the training set's mean and (population) standard deviation;
    columns constant up to rounding are centred only."""
    mean, var = train.mean(axis=0, dtype=float), train.var(axis=0, dtype=float)
    eps, n = np.finfo(float).eps, len(train)
    scale = np.sqrt(var)
    scale[var <= n * eps * var + (n * mean * eps) ** 2] = 1.0
    return (((train - mean) / scale).astype(train.dtype),
            ((test - mean) / scale).astype(train.dtype))


def _binary(w: np.ndarray, x: np.ndarray, y: np.ndarray, l2: float
            ) -> tuple[float, np.ndarray]:
    coef, intercept = w[:-1], w[-1]
    raw = x @ coef.astype(x.dtype) + x.dtype.type(intercept)
    loss = float(np.mean(-log_expit(raw) + (1 - y) * raw, dtype=float))
    err = (expit(raw) - y) / len(y)
    return (loss + 0.5 * l2 * float(coef @ coef),
            np.concatenate([x.T @ err + l2 * coef, [err.sum(dtype=float)]]))


def _multinomial(w: np.ndarray, x: np.ndarray, y: np.ndarray, l2: float
                 ) -> tuple[float, np.ndarray]:
    weights = w.reshape(x.shape[1] + 1, -1)
    coef, intercept = weights[:-1], weights[-1]
    rows = np.arange(len(y))
    raw = x @ coef.astype(x.dtype) + intercept.astype(x.dtype)
    raw -= raw.max(axis=1, keepdims=True)  # log-sum-exp by hand: SciPy's costs more than the rest
    prob = np.exp(raw)
    total = prob.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(total[:, 0]) - raw[rows, y], dtype=float))
    prob /= total
    prob[rows, y] -= 1  # the gradient of the cross-entropy with respect to the scores
    prob /= len(y)
    grad = np.vstack([x.T @ prob + l2 * coef, prob.sum(axis=0, dtype=float)])
    return loss + 0.5 * l2 * float((coef ** 2).sum()), grad.ravel()


def fit_predict_proba(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                      n_classes: int, *, c: float = 1.0, max_iter: int = 500,
                      tol: float = 1e-4) -> np.ndarray:
    """Class probabilities of `x_test` (rows, `n_classes` columns) from a logistic regression
    fitted on standardised `x_train` with integer labels `y_train` in 0..n_classes-1."""
    # Single precision stays single (as in scikit-learn): the matrix products take half the time.
    dtype = np.float32 if np.asarray(x_train).dtype == np.float32 else float
    train, test = _standardise(np.asarray(x_train, dtype=dtype), np.asarray(x_test, dtype=dtype))
    y = np.asarray(y_train, dtype=np.int64)
    l2 = 1.0 / (c * len(y))
    options = {"maxiter": max_iter, "maxls": 50, "gtol": tol, "ftol": 64 * np.finfo(float).eps}
    if n_classes == 2:
        fit = minimize(_binary, np.zeros(train.shape[1] + 1),
                       args=(train, y.astype(train.dtype), l2), method="L-BFGS-B", jac=True,
                       options=options)
        p = expit(test @ fit.x[:-1] + fit.x[-1])
        return np.column_stack([1 - p, p])
    fit = minimize(_multinomial, np.zeros((train.shape[1] + 1) * n_classes),
                   args=(train, y, l2), method="L-BFGS-B", jac=True, options=options)
    weights = fit.x.reshape(train.shape[1] + 1, n_classes)
    return softmax(test @ weights[:-1] + weights[-1], axis=1)
