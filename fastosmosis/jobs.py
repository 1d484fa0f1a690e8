"""One fusion from files to files: read, [register], [matte], fuse, write, atomically.

:func:`fuse_files` is what ``fastosmosis fuse`` does and what a batch runs for each row:
it reads the foreground, the background and the alpha map (or a trimap), optionally
registers the background onto the foreground (:func:`fastosmosis.registration.register`,
mutual information), optionally makes alpha from the trimap
(:func:`fastosmosis.matting.alpha_from_trimap`: KNN matting, Chen, Li, Tang, IEEE TPAMI
2013, as the paper's manuscripts had it), fuses (:func:`fastosmosis.fuse`, Parisotto et
al., IEEE TIP 2020) and writes every output it was asked for. Every input, option and
output is checked before the first step runs, and the outputs are written only when all
of them are complete (:func:`fastosmosis.io.write_files_atomic`): every output, or none.

It is two calls, so that a caller can show progress that needs the channel count:
:func:`prepare_files` (check the options, read the inputs, check the outputs; returns a
:class:`FileJob`) and :func:`run_job` (the steps, the fusion, the writing). Notes (an
alpha channel dropped, a grey image used as RGB, what the registration found, at what
size the matting ran) go to ``notes``, a callable taking one line.

The outputs keep the rules of ``fastosmosis fuse``: the format follows each file's
extension, the result and v keep the foreground's bit depth (or ``bit_depth``), the
registered background keeps the background's, and an alpha map made by matting is 8-bit
for an 8-bit foreground and 16-bit otherwise (as ``fastosmosis alpha`` writes it). The
alpha map that the matting makes and the registered background are handed to ``fuse``
as such a file holds them, so that the one call gives the same result, bit for bit, as
``fastosmosis register``, ``fastosmosis alpha`` and ``fastosmosis fuse`` on their files.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field

from ._jobcheck import alpha_depth, check_fuse_keywords, check_outputs, check_path, stored
from ._jobsteps import matte, register_background
from ._optional import require
from .inputs import (
    as_samples,
    check_alpha_channels,
    check_size,
    match_channels,
    read_alpha_source,
    read_colour,
    sha256,
)
from .io import encode_image, output_dtype, write_files_atomic
from .matting import METHODS as MATTING_METHODS
from .matting import trimap_masks
from .registration import TRANSFORMS
from .report import file_entry, fuse_report, report_text
from .validation import check_choice, to_float

__all__ = ["FileJob", "FileJobResult", "fuse_files", "prepare_files", "run_job"]

BIT_DEPTHS = ("8", "16", "float")


@dataclass(frozen=True)
class FileJobResult:
    """What :func:`fuse_files` did (no image arrays: the images are in the files, and a
    batch's worker sends this back).

    Attributes
    ----------
    output : str
        The result's file.
    written : tuple of str
        Every file written: the result, v, alpha, the registered background, the
        report, those asked for, in that order.
    report : dict
        The report (plain JSON values), also written to ``report`` when given.
    iterations : tuple of int
        Per channel, the solver's iterations.
    seconds : float
        Wall time of the whole job.
    notes : tuple of str
        The notes, in order.
    fusion : FusionResult
        fuse's result without its images (``u`` and ``v`` None): energies, iterations,
        stop reasons, timings per channel.
    """

    output: str
    written: tuple
    report: dict
    iterations: tuple
    seconds: float
    notes: tuple
    fusion: object = field(repr=False)


@dataclass
class FileJob:
    """A job whose options are checked, inputs read and outputs checked
    (:func:`prepare_files`); :func:`run_job` runs it.

    Attributes
    ----------
    channels : int
        The channels ``fuse`` will solve (for a progress display).
    shape : tuple of int
        The result's shape.
    paths : dict
        ``{keyword: path or None}`` of the outputs ("output", "save_v", "save_alpha",
        "save_registered", "report").
    notes : list of str
        The notes of the reading, which :func:`run_job` tells first.
    started : float
        The ``time.perf_counter()`` that the report's ``wall_seconds`` counts from
        (:func:`prepare_files`'s call; a command line may set its process's start).
    """

    channels: int
    shape: tuple
    paths: dict
    notes: list
    files: dict  # {role: path} of the inputs, as given
    inputs: dict  # {role: report entry}
    steps: dict  # register, matting, bit_depth (the output's like), command
    fuse_kwargs: dict
    started: float
    arrays: dict = field(repr=False)  # fg, bg (as read), alpha (or None), trimap (or None)
    infos: dict = field(repr=False)  # fg, bg


def fuse_files(foreground, background, output, *, alpha=None, trimap=None, register=None,
               matting="knn", save_alpha=None, save_registered=None, save_v=None,
               report=None, notes=None, callback=None, bit_depth=None, command=None,
               **fuse_kwargs) -> FileJobResult:
    """Fuse the image files ``foreground`` and ``background`` into ``output``.

    Parameters
    ----------
    foreground, background : str or os.PathLike
        The image files (PNG 8/16-bit, TIFF 8/16-bit or float, JPEG; grey or RGB; an
        alpha channel is dropped with a note). With ``register`` the background may have
        another size (an infrared scan at a lower resolution, say).
    output : str or os.PathLike
        The result: ``.png``, ``.jpg``/``.jpeg`` or ``.tif``/``.tiff``, at the
        foreground's bit depth (or ``bit_depth``); refused before any work when the
        format cannot hold it.
    alpha : str or os.PathLike, optional
        The alpha map file (1 keeps the foreground, 0 takes the background; integer
        samples divided by the type's maximum), or ``"-"``: the foreground's alpha
        channel. Exactly one of ``alpha`` and ``trimap``.
    trimap : str or os.PathLike, optional
        A trimap of the foreground's size (the type's maximum: foreground, 0:
        background, anything else unknown), from which alpha is made by matting.
    register : {"similarity", "affine"} or None
        Register the background onto the foreground first with this transform
        (:func:`fastosmosis.registration.register`, fixed = foreground).
    matting : {"knn", "cf"}
        The matting method for ``trimap``: KNN (Chen, Li, Tang 2013) or closed-form
        (Levin, Lischinski, Weiss 2008).
    save_alpha, save_registered, save_v : str or os.PathLike, optional
        Also write the alpha map made from ``trimap`` (8-bit for an 8-bit foreground,
        else 16-bit, as ``fastosmosis alpha`` writes it; needs ``trimap``), the
        registered background (at the background's bit depth; needs ``register``) and v
        (clipped to [0, 1], at the result's bit depth).
    report : str or os.PathLike, optional
        Also write the report (see :func:`fastosmosis.report.fuse_report`) as JSON.
    notes : callable or None
        ``notes(line)`` for each note (alpha channels dropped, grey used as RGB, what the
        registration found, the matting's size), once the inputs are checked.
    callback : callable or None
        ``fuse``'s ``callback(channel, iteration, energy)``.
    bit_depth : {"8", "16", "float"} or None
        The bit depth of the result and v (None: the foreground's).
    command : list of str or None
        The command line, for the report.
    **fuse_kwargs
        Keywords of :func:`fastosmosis.fuse` (``eta``, ``mu``, ``max_iter``, ...),
        checked before any work.

    Returns
    -------
    FileJobResult

    Raises
    ------
    TypeError, ValueError
        A wrong option, an input that cannot be read or does not fit, an output that
        cannot be written (:class:`~fastosmosis.io.ImageFileError`), a registration
        that does not converge (``RegistrationError``), before anything is written.
    MissingDependencyError
        SimpleITK (``register``) or pymatting (``trimap``) is not installed.
    """
    job = prepare_files(foreground, background, output, alpha=alpha, trimap=trimap,
                        register=register, matting=matting, save_alpha=save_alpha,
                        save_registered=save_registered, save_v=save_v, report=report,
                        bit_depth=bit_depth, command=command, **fuse_kwargs)
    return run_job(job, notes=notes, callback=callback)


def prepare_files(foreground, background, output, *, alpha=None, trimap=None,
                  register=None, matting="knn", save_alpha=None, save_registered=None,
                  save_v=None, report=None, bit_depth=None, command=None, **fuse_kwargs):
    """Check the options, read the inputs and check the outputs of :func:`fuse_files`
    (the same parameters, less ``notes`` and ``callback``); returns a :class:`FileJob`.

    Nothing is read before every option is checked, and nothing is computed before
    every input is read and every output checked.
    """
    started = time.perf_counter()
    for name, value in (("foreground", foreground), ("background", background),
                        ("output", output)):
        check_path(name, value)
    if alpha is not None and trimap is not None:
        raise ValueError("give either alpha (an alpha map file, or '-') or trimap (a "
                         "trimap file to make it from), not both")
    if alpha is None and trimap is None:
        raise ValueError("give alpha (an alpha map file, or '-' for the foreground's alpha "
                         "channel) or trimap (a trimap file to make it from)")
    paths = {"output": output, "save_v": save_v, "save_alpha": save_alpha,
             "save_registered": save_registered, "report": report}
    for name, value in [("alpha", alpha), ("trimap", trimap), *paths.items()]:
        if value is not None:
            check_path(name, value)
    if register is not None:
        check_choice("register", register, TRANSFORMS)
    check_choice("matting", matting, MATTING_METHODS)
    if save_registered is not None and register is None:
        raise ValueError("save_registered: there is no registered background without "
                         "register (give register='similarity' or 'affine')")
    if save_alpha is not None and trimap is None:
        raise ValueError("save_alpha: the alpha map is made only from a trimap (give "
                         "trimap; an alpha map file is saved already)")
    if bit_depth is not None:
        check_choice("bit_depth", bit_depth, BIT_DEPTHS)
    if command is not None and not (isinstance(command, (list, tuple))
                                    and all(isinstance(a, str) for a in command)):
        raise TypeError(f"command: expected a list of strings, got {command!r}")
    check_fuse_keywords(fuse_kwargs)
    if register is not None:  # a missing extra is said now, not after the reading
        require("SimpleITK", "registration")
    if trimap is not None:
        require("pymatting", "matting")
    files = {"foreground": foreground, "background": background, "alpha": alpha,
             "trimap": trimap}
    steps = {"register": register, "matting": matting, "bit_depth": bit_depth,
             "command": None if command is None else list(command)}
    return _read(files, paths, steps, fuse_kwargs, started)


def _read(files, paths, steps, fuse_kwargs, started):
    """The reading and the output checks of :func:`prepare_files`, in the order (and
    with the notes) of :func:`fastosmosis.inputs.read_inputs`."""
    said, inputs = [], {}
    foreground, background = files["foreground"], files["background"]
    alpha, trimap = files["alpha"], files["trimap"]

    def read(role, path, notes=None, keep_alpha=False):
        digest = sha256(path)  # the bytes that are read next, from the page cache
        colour, info, channel = read_colour(path, notes, keep_alpha=keep_alpha)
        inputs[role] = file_entry(info, digest)
        return colour, info, channel

    fg, fg_info, fg_alpha = read("foreground", foreground, keep_alpha=True)
    alpha_map = trimap_raw = None
    if trimap is None:
        digest = None if alpha == "-" else sha256(alpha)
        alpha_map, alpha_info, source = read_alpha_source(alpha, foreground, fg_alpha,
                                                          said.append)
    else:
        if fg_alpha is not None:
            said.append(f"{os.fspath(foreground)}: alpha channel dropped")
        trimap_raw, _, _ = read("trimap", trimap, said.append)
    bg, bg_info, _ = read("background", background, said.append)
    if steps["register"] is None:
        check_size(background, bg.shape, foreground, fg.shape)
    if trimap is None:
        check_size(alpha, alpha_map.shape, foreground, fg.shape)
        entry = file_entry(alpha_info, digest) if alpha_info else {"path": alpha}
        inputs["alpha"] = dict(entry, source=source, shape=list(alpha_map.shape))
    else:
        check_size(trimap, trimap_raw.shape, foreground, fg.shape)
        trimap_masks(trimap_raw, fg.shape[:2])  # a trimap with no known region: now
    fg, bg = as_samples(fg, as_float=False), as_samples(bg, as_float=False)
    channels = max(1 if x.ndim == 2 else x.shape[2] for x in (fg, bg))
    if alpha_map is not None:
        check_alpha_channels(alpha, alpha_map, channels)
    steps["like"] = steps["bit_depth"] or fg_info
    steps["alpha_like"] = alpha_depth(fg_info, paths.get("save_alpha"))
    check_outputs(paths, steps["like"], bg_info, steps["alpha_like"],
                  [foreground, background, alpha, trimap])
    shape = fg.shape[:2] + ((channels,) if channels > 1 else ())
    return FileJob(channels=channels, shape=shape, paths=paths, notes=said, files=files,
                   inputs=inputs, steps=steps, fuse_kwargs=dict(fuse_kwargs),
                   started=started,
                   arrays={"fg": fg, "bg": bg, "alpha": alpha_map, "trimap": trimap_raw},
                   infos={"fg": fg_info, "bg": bg_info})


def run_job(job, *, notes=None, callback=None) -> FileJobResult:
    """Run a :class:`FileJob` from :func:`prepare_files`: tell its notes, register,
    matte, fuse, and write every output at once. Returns a :class:`FileJobResult`.

    A job runs once: it hands its images over to the run.
    """
    import fastosmosis

    if notes is not None and not callable(notes):
        raise TypeError(f"notes: expected a callable taking one line, got {notes!r}")
    told = []

    def note(line):
        told.append(line)
        if notes is not None:
            notes(line)

    for line in job.notes:
        note(line)
    paths, steps, files = job.paths, job.steps, job.files
    names = {role: os.fspath(path) for role, path in files.items() if path is not None}
    like, bg_info = steps["like"], job.infos["bg"]
    if not job.arrays:
        raise ValueError("this job has run already (prepare_files makes a new one)")
    # the job lets go of its images, so that each is freed once the run is done with it
    fg, bg, alpha, trimap = (job.arrays.pop(k) for k in ("fg", "bg", "alpha", "trimap"))
    written = {}
    registration = matting = None
    if steps["register"] is not None:
        registered, registration = register_background(fg, bg, steps["register"], names,
                                                       note)
        bg = stored(registered, bg_info)  # as the file of save_registered holds it
        if paths["save_registered"] is not None:
            written["save_registered"] = _encoded(paths["save_registered"], registered,
                                                  bg_info)
            registration["path"] = _path_text(paths["save_registered"])
        del registered
    if alpha is None:
        made, matting = matte(fg, trimap, steps["matting"], names, note)
        # as the file of save_alpha (or of fastosmosis alpha) holds it
        alpha = to_float(stored(made, steps["alpha_like"]))
        job.inputs["alpha"] = {"path": None, "source": "trimap", "shape": list(alpha.shape)}
        if paths["save_alpha"] is not None:
            written["save_alpha"] = _encoded(paths["save_alpha"], made, steps["alpha_like"])
            matting["path"] = _path_text(paths["save_alpha"])
        matting["bit_depth"] = steps["alpha_like"]
        del made, trimap
    fg, bg = match_channels(fg, bg, names["foreground"], names["background"], note)
    result = fastosmosis.fuse(fg, bg, alpha, callback=callback,
                              return_v=paths["save_v"] is not None, **job.fuse_kwargs)
    del fg, bg, alpha
    written["output"] = _encoded(paths["output"], result.u, like)
    if paths["save_v"] is not None:
        written["save_v"] = _encoded(paths["save_v"], result.v, like)
    report = fuse_report(
        command=steps["command"], inputs=job.inputs, result=result,
        output=_path_text(paths["output"]), v_path=_path_text(paths["save_v"]),
        out_dtype=output_dtype(like), wall_seconds=time.perf_counter() - job.started,
        registration=registration, matting=matting)
    if paths["report"] is not None:
        written["report"] = (paths["report"], report_text(report).encode())
    order = ("output", "save_v", "save_alpha", "save_registered", "report")
    items = [written[name] for name in order if name in written]
    write_files_atomic(items)
    return FileJobResult(
        output=_path_text(paths["output"]), written=tuple(os.fspath(p) for p, _ in items),
        report=report, iterations=tuple(result.iterations),
        seconds=time.perf_counter() - job.started, notes=tuple(told),
        fusion=dataclasses.replace(result, u=None, v=None))


def _path_text(path):
    """``path`` as a str (None stays None)."""
    return None if path is None else os.fspath(path)


def _encoded(path, image, like):
    return (path, encode_image(path, image, like=like))
