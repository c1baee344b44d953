"""The arithmetic of each metric, on features (numpy float64 unless noted). No I/O, no networks.

References:
- FID: Heusel et al., NeurIPS 2017 (arXiv:1706.08500).
- KID: Bińkowski et al., "Demystifying MMD GANs", ICLR 2018 (arXiv:1801.01401).
- Precision/recall: Kynkäänniemi et al., NeurIPS 2019 (arXiv:1904.06991).
- IS: Salimans et al., NeurIPS 2016 (arXiv:1606.03498).
- PPL: Karras et al., CVPR 2019 (arXiv:1812.04948).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["frechet_distance", "kernel_inception_distance", "precision_recall", "inception_score", "ppl_reduce",
           "sqrt_trace_product"]


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((sigma + sigma.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def sqrt_trace_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``Tr(sqrtm(sigma1 @ sigma2))`` for symmetric PSD matrices.

    With ``A = sqrtm(sigma2)``, ``sigma1 @ A @ A`` and ``A @ sigma1 @ A`` have the same eigenvalues,
    and the latter is symmetric PSD, so the trace is the sum of the square roots of its eigenvalues:
    real by construction and stable for (near-)singular covariances, where ``scipy.linalg.sqrtm``
    can return complex or non-finite values.
    """
    a = _psd_sqrt(sigma2)
    m = a @ sigma1 @ a
    vals = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(vals, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``|mu1 - mu2|² + Tr(sigma1 + sigma2 - 2 sqrtm(sigma1 sigma2))`` (the FID of two Gaussian fits)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    diff = float(np.square(mu1 - mu2).sum())
    return diff + float(np.trace(sigma1) + np.trace(sigma2)) - 2 * sqrt_trace_product(sigma1, sigma2)


def kernel_inception_distance(real: np.ndarray, gen: np.ndarray, num_subsets: int = 100, max_subset_size: int = 1000,
                              seed: int = 0) -> float:
    """Unbiased MMD² with the cubic kernel ``k(x, y) = (x·y / d + 1)³``, averaged over random subsets.

    Each subset draws ``m = min(len(real), len(gen), max_subset_size)`` rows of each set without
    replacement (``numpy.random.RandomState(seed)``), as upstream.
    """
    real, gen = np.asarray(real, np.float64), np.asarray(gen, np.float64)
    d = real.shape[1]
    m = min(len(real), len(gen), max_subset_size)
    rng = np.random.RandomState(seed)
    total = 0.0
    for _ in range(num_subsets):
        x = gen[rng.choice(len(gen), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        total += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(total / num_subsets / m)


def _distances(rows: torch.Tensor, cols: torch.Tensor, col_batch: int, dtype: torch.dtype) -> torch.Tensor:
    parts = [torch.cdist(rows.to(dtype).unsqueeze(0), c.to(dtype).unsqueeze(0))[0].float() for c in cols.split(col_batch)]
    return torch.cat(parts, 1)


def precision_recall(real: torch.Tensor, gen: torch.Tensor, nhood_size: int = 3, row_batch: int = 10000,
                     col_batch: int = 10000, dtype: torch.dtype = torch.float32) -> tuple[float, float]:
    """Improved precision and recall with k-NN manifolds (``k = nhood_size``).

    The manifold of a set is the union of balls around its points whose radius is the distance to
    the k-th nearest *other* point. Precision: fraction of generated points inside the real
    manifold; recall: fraction of real points inside the generated manifold.

    Args:
        real, gen: features ``[N, D]`` (any device).
        dtype: precision of the distance computation (upstream: float16 on GPU).
    """
    out = []
    for manifold, probes in ((real, gen), (gen, real)):
        kth = torch.cat([_distances(b, manifold, col_batch, dtype).kthvalue(nhood_size + 1, dim=1).values
                         for b in manifold.split(row_batch)])
        inside = torch.cat([(_distances(b, manifold, col_batch, dtype) <= kth.unsqueeze(0)).any(dim=1)
                            for b in probes.split(row_batch)])
        out.append(float(inside.float().mean()))
    return out[0], out[1]


def inception_score(probs: np.ndarray, num_splits: int = 10) -> tuple[float, float]:
    """``exp(E_x KL(p(y|x) || p(y)))`` per split of the rows of ``probs`` ``[N, classes]``; (mean, std)."""
    probs = np.asarray(probs, np.float64)
    n = len(probs)
    scores = []
    for i in range(num_splits):
        part = probs[i * n // num_splits: (i + 1) * n // num_splits]
        kl = part * (np.log(part + 1e-30) - np.log(part.mean(axis=0, keepdims=True) + 1e-30))
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def ppl_reduce(dist: np.ndarray) -> float:
    """Mean of the distances between the 1st (lower) and 99th (higher) percentiles, as upstream."""
    dist = np.asarray(dist, np.float64)
    lo = np.percentile(dist, 1, method="lower")
    hi = np.percentile(dist, 99, method="higher")
    return float(dist[(dist >= lo) & (dist <= hi)].mean())
