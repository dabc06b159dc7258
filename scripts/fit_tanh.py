"""Fit the polynomial behind the compiled LSTM steps' tanh (tessera/nn/modules/_rnn_kernels.py).

On |x| < 0.625, tanh(x) = x * P(x**2) with P of degree 5. The coefficients minimise the
largest relative error (Lawson's method: least squares reweighted towards the points where
the error peaks) over Chebyshev nodes in x**2; the script prints them and the error of the
float32 evaluation against float64 tanh. Run: python scripts/fit_tanh.py
"""

import numpy as np

LIMIT, DEGREE, NODES, ROUNDS = 0.625, 5, 4000, 40


def fit():
    k = np.arange(NODES)
    z = LIMIT ** 2 * (1 - np.cos((k + 0.5) * np.pi / NODES)) / 2
    x = np.sqrt(z)
    target = np.tanh(x) / x
    powers = np.stack([z ** j for j in range(DEGREE + 1)], 1)
    weight = np.ones_like(z)
    for _ in range(ROUNDS):
        coef, *_ = np.linalg.lstsq(powers * weight[:, None], target * weight, rcond=None)
        error = np.abs(powers @ coef - target)
        weight = weight * np.sqrt(error / error.max()) + 1e-3 * weight
        weight /= weight.max()
    return coef, error.max()


def float32_error(coef):
    x = np.linspace(0, LIMIT, 400_001, dtype=np.float32)[1:]
    z = x * x
    p = np.full_like(z, np.float32(coef[-1]))
    for c in coef[-2::-1]:
        p = p * z + np.float32(c)
    exact = np.tanh(x.astype(np.float64))
    return np.max(np.abs(x * p - exact) / np.spacing(exact.astype(np.float32)))


if __name__ == "__main__":
    coef, error = fit()
    print("coefficients:", ", ".join(repr(float(c)) for c in coef))
    print(f"largest relative error in float64: {error:.2e}")
    print(f"float32 evaluation: within {float32_error(coef):.2f} ulp")
