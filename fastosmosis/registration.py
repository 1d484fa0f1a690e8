"""Registration of two scans of one object by multi-resolution mutual information.

A conservator's visible and infrared scans come from two cameras or two passes: another
resolution, a small rotation, scale and shift, and grey values that do not match (ink
that is dark in one is light in the other), so keypoints matched on grey values fail.
:func:`register` finds the similarity or affine map between them by maximising the
mutual information of the two images' grey values (Viola and Wells, IJCV 24(2), 1997),
estimated as Mattes et al. do (IEEE TMI 22(1), 2003: Parzen-window joint histogram on
samples, analytic gradient; here a regular grid of samples, each jittered within its
cell by a seeded generator), with SimpleITK's registration framework (Lowekamp et
al., Front. Neuroinform. 7, 2013): regular-step gradient descent on a Gaussian pyramid.

- Colour images are registered on their luminance (:func:`luminance`).
- The search starts from the two images' size ratio (a MOVING at half FIXED's
  resolution starts at scale 0.5), no rotation, centres on centres.
- Scans larger than ``max_pixels`` are registered on an area-averaged copy of at most
  that size, in FIXED's and MOVING's full-resolution pixel coordinates (the copies'
  pixel spacing says how they were reduced), and MOVING is resampled once, at full
  resolution, onto FIXED's pixel grid (:func:`resample`).
- The matrix maps FIXED's pixel coordinates (x = column, y = row, pixel centres at
  integers) to MOVING's, homogeneous 3 x 3.
- A result that is not a registration raises :class:`RegistrationError`: the optimiser
  ran out of iterations at the finest level, the map sends most of FIXED outside
  MOVING, the two images share almost no information after it (mutual information
  under ``MIN_SHARED`` of FIXED's entropy), or less than at the start.

Results are reproducible to far below a pixel: the metric's samples are drawn with a
fixed ``seed``, and what is left is the order of SimpleITK's floating-point sums (the
matrix moved by at most 3e-10 between runs on one or two threads). Regular sampling,
not SimpleITK's RANDOM strategy: with RANDOM the first registration of a process
differed from every later one by up to 8e-6 in the matrix (measured), whatever the seed;
the corner errors of the benchmark are the same with either (0.049 / 0.057 px mean over
16 pairs, similarity / affine).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ._area import resize
from ._optional import require
from ._resample import ORDERS, check_matrix, luminance, map_points, resample
from .validation import Image, check_choice, check_number

__all__ = [
    "MIN_OVERLAP",
    "MIN_SHARED",
    "MIN_SIDE",
    "TRANSFORMS",
    "RegistrationError",
    "RegistrationResult",
    "check_matrix",
    "luminance",
    "register",
    "resample",
]

TRANSFORMS = ("similarity", "affine")
MIN_SIDE = 16  # pixels a side of each image at the pyramid's coarsest level
MIN_OVERLAP = 0.5  # fraction of FIXED that must land inside MOVING
MIN_SHARED = 0.07  # mutual information / FIXED's entropy after registering: measured
# 0.35-0.47 on the synthetic pairs, 0.15 with noise of 0.15, 0.005-0.05 for unrelated images
WORSE = 0.9  # a result that shares less than this fraction of the start's is a failure
MAX_STRETCH = 2.0  # ratio of an affine map's singular values (a scanner does not shear more)
BINS = 32
CHECK_POINTS = 100_000  # grid points of FIXED the plausibility checks look at


class RegistrationError(ValueError):
    """The registration did not converge or its result is not plausible (message says how)."""


@dataclass(frozen=True)
class RegistrationResult:
    """What :func:`register` found.

    Attributes
    ----------
    registered : numpy.ndarray
        MOVING resampled onto FIXED's pixel grid: FIXED's height and width, MOVING's
        channels and dtype; 0 where FIXED's pixels fall outside MOVING.
    matrix : numpy.ndarray
        3 x 3 float64, homogeneous: FIXED's pixel coordinates (x = column, y = row) to
        MOVING's.
    metric : float
        The final Mattes mutual-information metric at the finest level (SimpleITK's sign:
        minus the mutual information, in nats; more negative is better).
    seconds : float
        Wall time of the whole call.
    transform : str
        "similarity" or "affine".
    iterations : int
        Optimiser iterations, all levels together.
    stop_reason : str
        The optimiser's own words for why it stopped at the finest level.
    registered_at : tuple of int
        FIXED's (height, width) at the finest level (smaller than FIXED where it is over
        ``max_pixels``).
    overlap : float
        The fraction of FIXED's pixels that land inside MOVING.
    """

    registered: np.ndarray
    matrix: np.ndarray
    metric: float
    seconds: float
    transform: str
    iterations: int
    stop_reason: str
    registered_at: tuple
    overlap: float


def register(fixed, moving, *, transform="similarity", max_pixels=1_000_000, levels=3,
             iterations=200, samples=50_000, bins=BINS, seed=0, threads=None, order=3):
    """Register MOVING onto FIXED by multi-resolution Mattes mutual information.

    Finds the map ``T`` (similarity: scale, rotation, shift; affine: any 2 x 2 matrix and a
    shift) maximising the mutual information of FIXED(p) and MOVING(T p) over FIXED's
    pixels p (module docstring), then resamples MOVING through it onto FIXED's grid.

    Parameters
    ----------
    fixed, moving : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)``, uint8, uint16 or float (finite, non-negative); of any
        sizes. Colour images are registered on their luminance.
    transform : {"similarity", "affine"}
    max_pixels : int
        Each image is registered on an area-averaged copy of at most this many pixels.
    levels : int
        Levels of the Gaussian pyramid (shrink factors 2**(levels-1), ..., 2, 1); the
        coarsest needs ``MIN_SIDE`` pixels a side.
    iterations : int
        Optimiser iterations at most, per level.
    samples : int
        Pixels of FIXED the metric samples at each level (all of them where fewer).
    bins : int
        Histogram bins of the metric.
    seed : int
        Seed of the samples' draw (SimpleITK gets ``seed + 1``: its 0 is the wall clock).
    threads : int or None
        Threads for SimpleITK (None: its default, all cores).
    order : {0, 1, 3}
        Interpolation of the final resampling (3: cubic B-spline).

    Returns
    -------
    RegistrationResult

    Raises
    ------
    TypeError, ValueError
        Bad arrays, an unknown transform, an image too small for the pyramid or constant.
    RegistrationError
        The optimiser did not converge or its result is not plausible.
    MissingDependencyError
        SimpleITK is not installed (``pip install 'fastosmosis[register]'``).
    """
    start = time.perf_counter()
    fixed_image, moving_image = Image("fixed", fixed), Image("moving", moving)
    check_choice("transform", transform, TRANSFORMS)
    for name, value in [("max_pixels", max_pixels), ("levels", levels),
                        ("iterations", iterations), ("samples", samples), ("bins", bins)]:
        check_number(name, value, integer=True, positive=True)
    check_number("seed", seed, integer=True, nonnegative=True)
    if threads is not None:
        check_number("threads", threads, integer=True, positive=True)
    if bins < 4:
        raise ValueError(f"bins: must be at least 4, got {bins}")
    if max_pixels < 64 * 64:
        raise ValueError(f"max_pixels: must be at least {64 * 64}, got {max_pixels}")
    if isinstance(order, bool) or order not in ORDERS:
        raise ValueError(f"order: expected one of {ORDERS}, got {order!r}")
    sitk = require("SimpleITK", "registration")
    grids = [_reduced(luminance(image), image.name, max_pixels, levels)
             for image in (fixed_image, moving_image)]

    method, initial, counter = _method(sitk, transform, grids, fixed_image.shape,
                                       moving_image.shape, levels=levels,
                                       iterations=iterations, samples=samples, bins=bins,
                                       seed=seed, threads=threads)
    fixed_sitk, moving_sitk = (_to_sitk(sitk, *grid) for grid in grids)
    try:
        found = method.Execute(fixed_sitk, moving_sitk)
    except RuntimeError as exc:
        raise RegistrationError(f"registration failed: {_itk_message(exc)}") from None
    matrix = _matrix_of(found)
    stop_reason = method.GetOptimizerStopConditionDescription()
    if method.GetOptimizerIteration() >= iterations:
        raise RegistrationError(
            f"registration did not converge: the optimiser used all its {iterations} "
            "iterations at the finest level (are the two images of the same object? "
            "raise iterations to try longer)")
    overlap, shared = _check_plausible(grids, matrix, _matrix_of(initial), transform)
    registered = resample(moving_image, matrix, fixed_image.shape, order=order)
    return RegistrationResult(
        registered=registered, matrix=matrix, metric=float(method.GetMetricValue()),
        seconds=time.perf_counter() - start, transform=transform, iterations=counter[0],
        stop_reason=stop_reason, registered_at=grids[0][0].shape, overlap=overlap)


def _reduced(lum, name, max_pixels, levels):
    """(copy of at most max_pixels, its pixel spacing (sx, sy) in full-size pixels)."""
    height, width = lum.shape
    need = MIN_SIDE * 2 ** (levels - 1)
    if min(height, width) < need:
        raise ValueError(
            f"{name}: {height} x {width} is too small for a {levels}-level pyramid (the "
            f"coarsest level needs {MIN_SIDE} pixels a side: at least {need} x {need}; "
            "give fewer levels: levels=, --levels)")
    if float(lum.max() - lum.min()) < 1e-6:
        raise ValueError(f"{name}: is constant, there is nothing to register")
    factor = min(1.0, np.sqrt(max_pixels / (height * width)))
    if factor < 1.0:
        h = max(need, int(round(height * factor)))
        w = max(need, int(round(width * factor)))
        lum = resize(lum, (h, w), "area")
    return lum, (width / lum.shape[1], height / lum.shape[0])


def _to_sitk(sitk, lum, spacing):
    """A SimpleITK image whose physical coordinates are the full-size pixel coordinates:
    a reduced pixel i covers [i s, (i + 1) s) - 1/2, its centre at (i + 1/2) s - 1/2."""
    image = sitk.GetImageFromArray(lum.astype(np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin(tuple(0.5 * s - 0.5 for s in spacing))
    return image


def _method(sitk, transform, grids, fixed_shape, moving_shape, *, levels, iterations,
            samples, bins, seed, threads):
    """The SimpleITK registration method, its initial transform and an iteration counter."""
    (fh, fw), (mh, mw) = fixed_shape[:2], moving_shape[:2]
    scale = np.sqrt((mh * mw) / (fh * fw))
    centre = ((fw - 1) / 2, (fh - 1) / 2)
    shift = ((mw - 1) / 2 - centre[0], (mh - 1) / 2 - centre[1])
    if transform == "similarity":
        initial = sitk.Similarity2DTransform()
        initial.SetScale(float(scale))
    else:
        initial = sitk.AffineTransform(2)
        initial.SetMatrix((float(scale), 0.0, 0.0, float(scale)))
    initial.SetCenter(centre)
    initial.SetTranslation(shift)

    method = sitk.ImageRegistrationMethod()
    if threads is not None:
        method.SetNumberOfThreads(int(threads))
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=int(bins))
    method.SetMetricSamplingStrategy(method.REGULAR)  # RANDOM: see the module docstring
    shrink = [2 ** k for k in range(levels - 1, -1, -1)]
    pixels = grids[0][0].size
    method.SetMetricSamplingPercentagePerLevel(
        [min(1.0, samples * f * f / pixels) for f in shrink], int(seed) + 1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-4, numberOfIterations=int(iterations),
        relaxationFactor=0.5, gradientMagnitudeTolerance=1e-8)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(shrink)
    method.SetSmoothingSigmasPerLevel([f / 2 if f > 1 else 0.0 for f in shrink])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(initial, inPlace=False)
    counter = [0]

    def count():
        counter[0] += 1

    method.AddCommand(sitk.sitkIterationEvent, count)
    return method, initial, counter


def _matrix_of(tx):
    """The 3 x 3 matrix of an affine SimpleITK transform, read from three points."""
    origin = np.array(tx.TransformPoint((0.0, 0.0)))
    matrix = np.eye(3)
    matrix[:2, 0] = np.array(tx.TransformPoint((1.0, 0.0))) - origin
    matrix[:2, 1] = np.array(tx.TransformPoint((0.0, 1.0))) - origin
    matrix[:2, 2] = origin
    return matrix


def _itk_message(exc):
    """The part of an ITK exception a user can read (ITK puts file and line first)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("sitk::ERROR", "Exception thrown", "/", "itk::")):
            return line.removeprefix("Description: ")
    return lines[-1] if lines else type(exc).__name__


def _check_plausible(grids, matrix, initial, transform):
    """(overlap, shared information) of the registration, or :class:`RegistrationError`."""
    if transform == "affine":
        sv = np.linalg.svd(matrix[:2, :2], compute_uv=False)
        if sv[0] > MAX_STRETCH * sv[1]:
            raise RegistrationError(
                f"registration result is not plausible: the affine map stretches one "
                f"direction {sv[0] / sv[1]:.1f} times more than the other")
    overlap, shared = _shared_information(grids, matrix)
    if overlap < MIN_OVERLAP:
        raise RegistrationError(
            f"registration result is not plausible: only {overlap:.0%} of FIXED lands "
            "inside MOVING (are the two images of the same object?)")
    if shared < MIN_SHARED:
        raise RegistrationError(
            f"registration did not converge: after it the images share {shared:.1%} of "
            f"FIXED's information (under {MIN_SHARED:.0%}: are they of the same object?)")
    _, before = _shared_information(grids, initial)
    if shared < WORSE * before:
        raise RegistrationError(
            "registration did not converge: the images share less information after it "
            f"than at the start ({shared:.3f} against {before:.3f} of FIXED's entropy)")
    return overlap, shared


def _shared_information(grids, matrix):
    """(fraction of FIXED's points inside MOVING, mutual information / FIXED's entropy)
    on a grid of about CHECK_POINTS of FIXED's points (the reduced copies)."""
    from scipy import ndimage

    (fixed, f_spacing), (moving, m_spacing) = grids
    step = max(1, int(np.sqrt(fixed.size / CHECK_POINTS)))
    rows, cols = np.mgrid[0:fixed.shape[0]:step, 0:fixed.shape[1]:step]
    # reduced FIXED pixel -> full-size FIXED -> full-size MOVING -> reduced MOVING
    points = np.column_stack([(cols.ravel() + 0.5) * f_spacing[0] - 0.5,
                              (rows.ravel() + 0.5) * f_spacing[1] - 0.5])
    mapped = map_points(matrix, points)
    x = (mapped[:, 0] + 0.5) / m_spacing[0] - 0.5
    y = (mapped[:, 1] + 0.5) / m_spacing[1] - 0.5
    inside = (x >= 0) & (x <= moving.shape[1] - 1) & (y >= 0) & (y <= moving.shape[0] - 1)
    overlap = float(inside.mean())
    if inside.sum() < 64:
        return overlap, 0.0
    a = fixed[rows.ravel()[inside], cols.ravel()[inside]]
    b = ndimage.map_coordinates(moving, [y[inside], x[inside]], order=1)
    joint, _, _ = np.histogram2d(a, b, bins=BINS)
    p = joint / joint.sum()
    pa, pb = p.sum(axis=1), p.sum(axis=0)
    nz = p > 0
    mutual = float(np.sum(p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz])))
    entropy = float(-np.sum(pa[pa > 0] * np.log(pa[pa > 0])))
    return overlap, mutual / entropy if entropy > 0 else 0.0
