"""The manuscript demonstration: a visible / infrared pair made from the shipped faces.

There is no openly licensed visible / infrared manuscript pair to ship, so the package
makes one from its own faces example (``fastosmosis/data``: Euler, Lagrange and the
mask, 150 x 115) and runs the one-command path of ``fastosmosis fuse --trimap
--register`` on it (:func:`fastosmosis.jobs.fuse_files`).

The scene is made to play the part of the paper's manuscripts (Parisotto et al., IEEE
TIP 2020, section V: in the Fitzwilliam miniature the infrared shows a background
texture lost from the visible gold; the fusion keeps the visible scan's colours, f, and
brings in the infrared's structure, b, where alpha = 0):

- the *visible scan* f is the Euler portrait;
- the *infrared scan* b sees the same portrait everywhere but in the face, where it
  sees another face (Lagrange's, the shipped background), as an infrared reflectogram
  sees an underdrawing or a painted-over first version (a pentimento) that the visible
  paint hides. Its scene is ``alpha * Euler + (1 - alpha) * Lagrange`` with the shipped
  mask as alpha, and its grey values are :func:`fastosmosis.synthetic.synthetic_infrared`'s
  partly inverted response of that scene's luminance, blurred and noisy, on a second
  camera's grid (:func:`fastosmosis.synthetic.misaligned_pair`: another resolution, a
  rotation and a shift, with the true matrix);
- the *trimap* is the shipped mask made a trimap (:func:`fastosmosis.matting.trimap_from_alpha`).

The fusion then shows Lagrange's face, seen only in the infrared, in the colours of the
visible Euler portrait, while the registration can be scored against the known map
(:func:`fastosmosis.synthetic.corner_error`).

The shipped images are small: cropped, the visible scan would be 136 x 101, and the
registration's default three-level pyramid needs 64 pixels a side (16 at its coarsest
level), so an infrared below 0.63 times that resolution could not be registered and the
matted face would be some 30 pixels wide. The visible scan, the hidden face and the mask
are therefore first enlarged by :data:`UPSAMPLE`: the two portraits by cubic B-spline
interpolation (:func:`upsample`), the mask by pixel replication, so that it keeps its
three levels 0, 128 and 255.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import time
from dataclasses import dataclass, field

import numpy as np

from . import synthetic
from ._jobcheck import check_fuse_keywords, check_path
from ._optional import require
from ._write import to_samples
from .io import (
    ImageFileError,
    check_destination,
    check_output,
    encode_image,
    read_image,
    write_files_atomic,
)
from .matting import trimap_from_alpha
from .report import report_text
from .validation import Image, check_number, to_float

__all__ = ["ANGLE_DEGREES", "BACKDROP", "CHANNELS", "ERODE", "FILES", "PARAMETERS",
           "SCALE", "SEED", "SHIFT", "UPSAMPLE", "DemoPair", "DemoResult", "demo_pair",
           "demo_picture", "grid", "run_demo", "shipped_pair", "side_by_side", "upsample"]

UPSAMPLE = 2  # the shipped 150 x 115 faces, enlarged to 300 x 230
SCALE = 0.75  # the infrared's resolution relative to the visible scan's
ANGLE_DEGREES = 3.0  # the infrared camera's rotation
SHIFT = (6.3, -4.7)  # (dx, dy), infrared pixels: where the visible's centre lands
SEED = 0  # the infrared's noise
ERODE = 3  # pixels (at the enlarged size) the mask's regions are eroded by for the trimap
BACKDROP = 96  # grey of the picture's background
CHANNELS = 3  # the visible scan is RGB: the channels the fusion solves
# the faces example's parameters (cli demo), alpha's blur of 5 px at 600 x 460 scaled to
# the demonstration's 300 x 230
PARAMETERS = {"eta": 0.1, "mu": 100.0, "gamma": 1.0, "alpha_blur": 2.5}
SHIPPED = ("faces_foreground.png", "faces_background.png", "faces_alpha.png")
FILES = {  # what run_demo writes into its folder
    "visible": "visible.png", "infrared": "infrared.png", "trimap": "trimap.png",
    "registered": "infrared-registered.png", "alpha": "alpha.png", "fused": "fused.png",
    "report": "report.json", "picture": "manuscript-demo.jpg",
    "attribution": "ATTRIBUTION.txt",
}


@dataclass(frozen=True)
class DemoPair:
    """What :func:`demo_pair` makes: the demonstration's inputs and their truth.

    Attributes
    ----------
    visible : numpy.ndarray
        The visible scan, uint8 RGB (H x W x 3).
    infrared : numpy.ndarray
        The infrared scan, uint8 grey, on its own grid (``round(scale H) x round(scale W)``).
    trimap : numpy.ndarray
        uint8 H x W: 255 foreground (keep the visible), 0 background (take the
        infrared's structure), 128 unknown.
    alpha : numpy.ndarray
        uint8 H x W, the mask the trimap and the infrared's scene were made from.
    scene : numpy.ndarray
        uint8 H x W x 3, what the infrared camera sees (``alpha * visible + (1 - alpha)
        * hidden``) on the visible scan's grid, before the infrared response.
    true_matrix : numpy.ndarray
        3 x 3, the visible scan's pixel coordinates to the infrared's.
    parameters : dict
        How it was made (upsampling, misalignment, erosion), for the report.
    """

    visible: np.ndarray
    infrared: np.ndarray
    trimap: np.ndarray
    alpha: np.ndarray
    scene: np.ndarray
    true_matrix: np.ndarray
    parameters: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` did.

    Attributes
    ----------
    paths : dict
        ``{role: path}`` of every file written (the keys of :data:`FILES`).
    corner_error : float
        Mean corner distance, in the visible scan's pixels, between the registration's
        map and the true one (:func:`fastosmosis.synthetic.corner_error`).
    matrix, true_matrix : numpy.ndarray
        The registration's and the true 3 x 3 map (visible to infrared pixels).
    report : dict
        The report written to ``paths["report"]``: fuse_files' report with a
        ``demonstration`` section.
    seconds : float
        Wall time of the whole run.
    fusion : FusionResult
        fuse's result without its images (``u`` and ``v`` None): energies, iterations,
        stop reasons per channel.
    """

    paths: dict
    corner_error: float
    matrix: np.ndarray
    true_matrix: np.ndarray
    report: dict
    seconds: float
    fusion: object = field(repr=False)


def upsample(image, factor):
    """``image`` enlarged ``factor`` times by cubic B-spline interpolation, type kept.

    ``scipy.ndimage.zoom(order=3, grid_mode=True, mode="grid-mirror")``: pixels are
    squares (the output covers exactly the input's extent), the border is mirrored, and
    the spline's overshoot is clipped to the input's range before rounding.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)``, uint8, uint16 or float in [0, 1].
    factor : int
        1 to 8.

    Returns
    -------
    numpy.ndarray
        ``(factor H, factor W[, C])`` of ``image``'s dtype.
    """
    from scipy import ndimage

    check_number("factor", factor, positive=True, integer=True)
    if factor > 8:
        raise ValueError(f"factor: must be at most 8, got {factor}")
    x = Image("image", image).array
    floats = to_float(x).astype(np.float64)
    zoom = (factor, factor) + (1,) * (x.ndim - 2)
    big = ndimage.zoom(floats, zoom, order=3, grid_mode=True, mode="grid-mirror")
    big = np.clip(big, floats.min(), floats.max())
    if x.dtype.kind == "u":
        return np.rint(big * np.iinfo(x.dtype).max).astype(x.dtype)
    return big.astype(x.dtype)


def demo_pair(visible, hidden, alpha, *, factor=UPSAMPLE, scale=SCALE,
              angle_degrees=ANGLE_DEGREES, shift=SHIFT, seed=SEED, erode=ERODE):
    """The demonstration's visible scan, misaligned infrared scan and trimap (module
    docstring).

    Parameters
    ----------
    visible, hidden : numpy.ndarray
        uint8 RGB, H x W x 3: the visible scan and what only the infrared sees where
        ``alpha`` is 0.
    alpha : numpy.ndarray
        uint8 H x W, 255 keeps ``visible``, 0 shows ``hidden`` in the infrared.
    factor : int
        Upsampling of all three first (:func:`upsample` for the images, pixel
        replication for ``alpha``).
    scale, angle_degrees, shift, seed
        The infrared camera, as :func:`fastosmosis.synthetic.misaligned_pair` takes them.
    erode : int
        Erosion of ``alpha``'s regions for the trimap (:func:`trimap_from_alpha`).

    Returns
    -------
    DemoPair
    """
    images = [np.asarray(x) for x in (visible, hidden, alpha)]
    for name, x, ndim in zip(("visible", "hidden", "alpha"), images, (3, 3, 2), strict=True):
        if x.dtype != np.uint8:
            raise TypeError(f"{name}: expected uint8 samples, got {x.dtype}")
        if x.ndim != ndim or (ndim == 3 and x.shape[2] != 3):
            raise ValueError(f"{name}: expected {'H x W x 3' if ndim == 3 else 'H x W'}, "
                             f"got shape {x.shape}")
    visible, hidden, alpha = images
    if hidden.shape != visible.shape or alpha.shape != visible.shape[:2]:
        raise ValueError(f"sizes differ: visible {visible.shape}, hidden {hidden.shape}, "
                         f"alpha {alpha.shape}")
    check_number("erode", erode, nonnegative=True, integer=True)
    big_visible, big_hidden = upsample(visible, factor), upsample(hidden, factor)
    big_alpha = np.kron(alpha, np.ones((factor, factor), np.uint8))
    a = to_float(big_alpha)[:, :, None]
    scene = np.rint(255 * (a * to_float(big_visible) + (1 - a) * to_float(big_hidden)))
    # misaligned_pair crops FIXED out of its input and makes the infrared from the
    # luminance of the first three channels: the scene, the visible scan and alpha go in
    # as one image and come out cropped alike
    stack = np.concatenate([scene.astype(np.uint8), big_visible, big_alpha[:, :, None]], 2)
    fixed, infrared, true_matrix = synthetic.misaligned_pair(
        stack, scale=scale, angle_degrees=angle_degrees, shift=shift, seed=seed)
    fixed_alpha = np.ascontiguousarray(fixed[:, :, 6])
    parameters = {
        "upsample": {"factor": factor, "images": "cubic B-spline (scipy.ndimage.zoom, "
                     "order 3, grid_mode, grid-mirror)", "alpha": "pixel replication"},
        "crop_margin": synthetic.MARGIN,
        "infrared": {"scale": scale, "angle_degrees": angle_degrees, "shift": list(shift),
                     "seed": seed, "turn": synthetic.IR_TURN, "floor": synthetic.IR_FLOOR,
                     "gain": synthetic.IR_GAIN, "gamma": synthetic.IR_GAMMA,
                     "blur": synthetic.IR_BLUR, "noise": synthetic.IR_NOISE},
        "trimap_erode": erode,
    }
    return DemoPair(
        visible=np.ascontiguousarray(fixed[:, :, 3:6]), infrared=infrared,
        trimap=trimap_from_alpha(fixed_alpha, erode=erode), alpha=fixed_alpha,
        scene=np.ascontiguousarray(fixed[:, :, :3]), true_matrix=true_matrix,
        parameters=parameters)


def shipped_pair(**kwargs):
    """:func:`demo_pair` of the shipped faces: Euler visible, Lagrange's face hidden
    under the mask; ``kwargs`` are :func:`demo_pair`'s keywords."""
    data = importlib.resources.files("fastosmosis.data")
    with contextlib.ExitStack() as stack:
        paths = [stack.enter_context(importlib.resources.as_file(data / name))
                 for name in SHIPPED]
        visible, hidden, alpha = (read_image(path)[0] for path in paths)
    return demo_pair(visible, hidden, alpha, **kwargs)


def side_by_side(images, gap=4):
    """Images (floats in [0, 1] or uint8, grey or RGB, same height) in a row on white,
    as uint8 RGB."""
    panels = [_rgb8(image) for image in images]
    height = panels[0].shape[0]
    spacer = np.full((height, gap, 3), 255, np.uint8)
    row = []
    for k, panel in enumerate(panels):
        if k:
            row.append(spacer)
        row.append(panel)
    return np.concatenate(row, axis=1)


def grid(rows, gap=4, backdrop=BACKDROP):
    """Rows of images (floats in [0, 1] or uint8, grey or RGB) as one uint8 RGB picture:
    every cell the size of the largest image, each image centred in its cell on the grey
    ``backdrop`` (0-255; so that a white alpha map and a smaller image show their
    edges), ``gap`` pixels of it between cells and around them; a short row is filled
    with it."""
    panels = [[_rgb8(image) for image in row] for row in rows]
    height = max(p.shape[0] for row in panels for p in row)
    width = max(p.shape[1] for row in panels for p in row)
    columns = max(len(row) for row in panels)
    out = np.full((len(rows) * (height + gap) + gap, columns * (width + gap) + gap, 3),
                  backdrop, np.uint8)
    for i, row in enumerate(panels):
        for j, panel in enumerate(row):
            top = gap + i * (height + gap) + (height - panel.shape[0]) // 2
            left = gap + j * (width + gap) + (width - panel.shape[1]) // 2
            out[top:top + panel.shape[0], left:left + panel.shape[1]] = panel
    return out


def demo_picture(visible, infrared, trimap, registered, alpha, fused):
    """The demonstration at a glance: the inputs (visible | infrared | trimap) over the
    results (registered infrared | alpha | fused), as uint8 RGB (:func:`grid`)."""
    return grid([[visible, infrared, trimap], [registered, alpha, fused]])


def run_demo(out_dir, *, notes=None, callback=None, command=None, **fuse_kwargs):
    """Make the demonstration pair and run register, matte and fuse on it into ``out_dir``.

    Writes :data:`FILES` into ``out_dir`` (made if missing): the inputs (visible,
    infrared, trimap: :func:`shipped_pair`) first, then the one-command path
    :func:`fastosmosis.jobs.fuse_files` (``trimap=``, ``register="similarity"``,
    ``save_alpha=``, ``save_registered=``; the fusion of Parisotto et al. 2020 with
    :data:`PARAMETERS`), then the report (fuse_files' report with a ``demonstration``
    section: how the pair was made, the true matrix and the corner error), the picture
    (:func:`demo_picture`, JPEG) and the images' attribution, each step's files
    atomically.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The folder.
    notes : callable, optional
        ``notes(line)``: what the registration found, at what size the matting ran.
    callback : callable, optional
        fuse's ``callback(channel, iteration, energy)``.
    command : list of str, optional
        The command line, for the report.
    **fuse_kwargs
        Keywords of :func:`fastosmosis.fuse`, over :data:`PARAMETERS`.

    Returns
    -------
    DemoResult

    Raises
    ------
    TypeError, ValueError
        A bad folder or keyword, before anything is written.
    MissingDependencyError
        SimpleITK or pymatting is missing, before anything is written.
    """
    from .jobs import fuse_files

    start = time.perf_counter()
    check_path("out_dir", out_dir)
    kwargs = dict(PARAMETERS, **fuse_kwargs)
    check_fuse_keywords(kwargs)
    require("SimpleITK", "registration")
    require("pymatting", "matting")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ImageFileError(os.fspath(out_dir), "exists and is not a folder")
    paths = {role: os.path.join(out_dir, name) for role, name in FILES.items()}
    if os.path.isdir(out_dir):  # a new folder holds nothing that could be in the way
        _check_destinations(paths)
    pair = shipped_pair()
    os.makedirs(out_dir, exist_ok=True)
    _check_destinations(paths)
    write_files_atomic([(paths[role], encode_image(paths[role], image, like=np.uint8))
                        for role, image in (("visible", pair.visible),
                                            ("infrared", pair.infrared),
                                            ("trimap", pair.trimap))])
    done = fuse_files(paths["visible"], paths["infrared"], paths["fused"],
                      trimap=paths["trimap"], register="similarity",
                      save_alpha=paths["alpha"], save_registered=paths["registered"],
                      notes=notes, callback=callback, command=command, **kwargs)
    matrix = np.asarray(done.report["registration"]["matrix"], dtype=np.float64)
    error = synthetic.corner_error(matrix, pair.true_matrix, pair.visible.shape)
    report = dict(done.report, demonstration=dict(
        pair.parameters, true_matrix=pair.true_matrix, corner_error_px=error,
        files={role: os.path.basename(path) for role, path in paths.items()}))
    registered, alpha, fused = (read_image(paths[role])[0]
                                for role in ("registered", "alpha", "fused"))
    picture = demo_picture(pair.visible, pair.infrared, pair.trimap, registered, alpha, fused)
    attribution = importlib.resources.files("fastosmosis.data") / "ATTRIBUTION.txt"
    write_files_atomic([
        (paths["report"], report_text(report).encode()),
        (paths["picture"], encode_image(paths["picture"], picture, like=np.uint8)),
        (paths["attribution"], attribution.read_bytes()),
    ])
    return DemoResult(paths=paths, corner_error=error, matrix=matrix,
                      true_matrix=pair.true_matrix, report=report,
                      seconds=time.perf_counter() - start, fusion=done.fusion)


def _check_destinations(paths):
    """Every file of :data:`FILES` can be written (a folder in the way, say, is refused)."""
    for role, path in paths.items():
        if role in ("report", "attribution"):
            check_destination(path)
        else:
            check_output(path, np.uint8)


def _rgb8(image):
    """``image`` (floats in [0, 1] or uint8 / uint16, grey or RGB) as uint8 RGB."""
    image = to_float(np.asarray(image)).astype(np.float64)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return to_samples(image, np.uint8)
