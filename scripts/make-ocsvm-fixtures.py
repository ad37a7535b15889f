#!/usr/bin/env python3
"""Generates the One-Class SVM reference fixtures under Tests/WardenDetectTests/Fixtures/ocsvm/.

Each case is a training set, scikit-learn's fitted OneClassSVM (support vector indices, dual
coefficients, rho, the gamma it used, the number of SMO iterations), and decision values and
score_samples on test points. With `standardize`, the training set goes through StandardScaler
first (as Warden's monitors do by default) and the scaler's mean and scale are recorded too.

The Swift tests compare Warden's OneClassSVM with these numbers without needing Python:
    pip install scikit-learn numpy
    python3 scripts/make-ocsvm-fixtures.py
"""
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "WardenDetectTests", "Fixtures", "ocsvm")


def vitals(rng, n):
    """Heart rate (bpm), SpO2 (%), body temperature (degrees C): one gamma over raw units fits the
    heart rate and ignores the temperature."""
    return np.column_stack([
        rng.normal(72, 6, n),
        np.clip(rng.normal(97.5, 0.8, n), 90, 100),
        rng.normal(36.8, 0.25, n),
    ])


def vitals_probe(rng, n):
    base = vitals(rng, n)
    fever = vitals(rng, 20)
    fever[:, 2] = rng.uniform(38.0, 39.5, 20)         # a fever alone
    hypoxia = vitals(rng, 20)
    hypoxia[:, 1] = rng.uniform(85, 92, 20)           # low oxygen alone
    tachy = vitals(rng, 20)
    tachy[:, 0] = rng.uniform(110, 150, 20)           # fast heart alone
    return np.vstack([base, fever, hypoxia, tachy])


def moons(rng, n, noise=0.1):
    n1 = n // 2
    t1 = rng.uniform(0, np.pi, n1)
    t2 = rng.uniform(0, np.pi, n - n1)
    a = np.column_stack([np.cos(t1), np.sin(t1)])
    b = np.column_stack([1 - np.cos(t2), 1 - np.sin(t2) - 0.5])
    return np.vstack([a, b]) + rng.normal(0, noise, (n, 2))


def clusters(rng, n, d, k=3):
    centers = rng.uniform(-5, 5, (k, d))
    labels = rng.integers(0, k, n)
    return centers[labels] + rng.normal(0, 0.7, (n, d))


def around(rng, x, n, spread=2.0):
    """Test points: some from the training distribution's box and some well outside it."""
    lo, hi = x.min(axis=0), x.max(axis=0)
    width = hi - lo
    inside = rng.uniform(lo, hi, (n // 2, x.shape[1]))
    outside = rng.uniform(lo - spread * width, hi + spread * width, (n - n // 2, x.shape[1]))
    return np.vstack([inside, outside])


def case(name, train, test, *, nu=0.5, kernel="rbf", gamma="scale", degree=3, coef0=0.0, tol=1e-3,
         shrinking=True, standardize=False):
    train = np.ascontiguousarray(train, dtype=np.float64)
    test = np.ascontiguousarray(test, dtype=np.float64)
    fit_x, test_x = train, test
    scaler = None
    if standardize:
        scaler = StandardScaler().fit(train)
        fit_x = scaler.transform(train)
        test_x = scaler.transform(test)
    model = OneClassSVM(nu=nu, kernel=kernel, gamma=gamma, degree=degree, coef0=coef0, tol=tol,
                        shrinking=shrinking).fit(fit_x)
    decision = model.decision_function(test_x)
    samples = model.score_samples(test_x)
    train_decision = model.decision_function(fit_x)
    out = {
        "name": name,
        "sklearn": sklearn.__version__,
        "parameters": {
            "nu": nu, "kernel": kernel, "gamma": gamma if isinstance(gamma, str) else float(gamma),
            "degree": degree, "coef0": coef0, "tol": tol, "shrinking": shrinking, "standardize": standardize,
        },
        "train": train.tolist(),
        "test": test.tolist(),
        "fitted": {
            "gamma": float(model._gamma),
            "support": [int(i) for i in model.support_],
            "dualCoef": [float(v) for v in model.dual_coef_[0]],
            "rho": float(-model.intercept_[0]),
            "offset": float(model.offset_[0]),
            "iterations": int(np.ravel(model.n_iter_)[0]),
            "mean": None if scaler is None else [float(v) for v in scaler.mean_],
            "scale": None if scaler is None else [float(v) for v in scaler.scale_],
        },
        "decision": [float(v) for v in decision],
        "scoreSamples": [float(v) for v in samples],
        "trainDecision": [float(v) for v in train_decision],
    }
    path = os.path.join(OUT, name + ".json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"{name}: n={len(train)} d={train.shape[1]} nSV={len(model.support_)} rho={out['fitted']['rho']:.6g} "
          f"iter={out['fitted']['iterations']} -> {os.path.relpath(path, ROOT)}", file=sys.stderr)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20251124)

    x = rng.normal(0, 1, (150, 2))
    case("blob2d-defaults", x, around(rng, x, 200))

    x = rng.normal(0, 1, (300, 2)) * [3.0, 0.5] + [10, -2]
    case("blob2d-nu005", x, around(rng, x, 200), nu=0.05)

    x = vitals(rng, 600)
    probe = vitals_probe(rng, 140)
    case("vitals3d-standardized", x, probe, nu=0.05, standardize=True)
    case("vitals3d-raw", x, probe, nu=0.05)

    x = moons(rng, 400)
    case("moons2d-gamma2", x, around(rng, x, 200, 1.0), nu=0.1, gamma=2.0)

    x = clusters(rng, 500, 4)
    case("clusters4d-auto", x, around(rng, x, 200, 0.5), nu=0.2, gamma="auto")

    x = rng.normal(0, 1, (200, 3)) * [1, 2, 0.5] + [1, 1, 1]
    case("linear3d", x, around(rng, x, 150), nu=0.3, kernel="linear")

    x = rng.normal(0, 1, (200, 2))
    case("poly2d", x, around(rng, x, 150), nu=0.25, kernel="poly", degree=3, coef0=1.0)

    x = rng.standard_t(3, (800, 5))
    case("heavy5d-tol1e-5", x, around(rng, x, 200, 0.5), nu=0.1, tol=1e-5, standardize=True)

    x = rng.integers(0, 6, (300, 2)).astype(float)     # many duplicates: ties in working-set selection
    case("grid2d-duplicates", x, around(rng, x, 150), nu=0.1)

    x = vitals(rng, 300)
    case("vitals3d-noshrink", x, vitals_probe(rng, 60), nu=0.1, shrinking=False, standardize=True)

    x = vitals(rng, 2000)
    case("vitals3d-n2000", x, vitals_probe(rng, 140), nu=0.05, standardize=True)


if __name__ == "__main__":
    main()
