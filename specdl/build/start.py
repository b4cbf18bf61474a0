"""How `specdl build` starts, before any training: the Analysis of a spec or of a run
being resumed (what --resume may change), the global batch's split over the processes,
and --nproc K, which runs the same command as K processes under torchrun."""

from __future__ import annotations

from pathlib import Path

from ..errors import RunError, SpecError, no_such

# What `--resume` may change (recorded in the run's spec.yaml): how it trains, not what
# it trains (model, data, loss, optimizer would not match the checkpoint).
RESUME_OVERRIDES = ("train",)


def launch_processes(spec, overrides, resume, nproc: int | None, argv: list[str]) -> int | None:
    """--nproc K (K > 1) in a process torchrun did not start: check the spec, then run
    ``argv`` less --nproc as K processes under torchrun; their exit code. None where this
    process trains: no --nproc, K of 1, or one of torchrun's processes already."""
    if nproc is None or nproc == 1:
        return None
    from ..front import analysis_of
    from .distributed import launch, preflight, world_size

    if world_size() > 1:
        return None
    argv = without_nproc(argv)
    a = analysis_of(spec or f"{resume}/spec.yaml", overrides)
    check_world(a, nproc)
    preflight(nproc, a.spec.train.device)
    return launch(nproc, argv)


def build_analysis(spec, overrides, resume=None, output=None, force: bool = False, warn=None):
    """The Analysis to train: ``spec``'s, or (``resume``) the run's recorded spec.yaml with
    train.* overrides; ``warn`` is given it before the batch's split over the processes
    is checked."""
    from ..front import analysis_of
    from .distributed import world_size

    if resume:
        resume_arguments(resume, spec, output, force, overrides)
        a = analysis_of(Path(resume) / "spec.yaml", overrides)
    elif spec:
        a = analysis_of(spec, overrides)
    else:
        raise RunError("give a spec to build, or --resume RUN_DIR")
    if warn is not None:
        warn(a)
    check_world(a, world_size())
    return a


def resume_arguments(resume, spec, output, force, overrides) -> None:
    """`--resume RUN_DIR` continues that run in place: a spec path, --out or --force do
    not apply, and only overrides in RESUME_OVERRIDES are taken (and recorded)."""
    if spec:
        raise RunError(f"give a spec path to build, or --resume RUN_DIR to continue a run, not both ({spec})")
    if output or force:
        raise RunError(f"--resume continues {resume} in place; --out and --force do not apply")
    from ..files import file_problem

    if not Path(resume).is_dir():
        raise RunError(f"--resume {resume}: " + ("it is a file, not a run directory" if
                       Path(resume).exists() else no_such(resume, "the run directory")))
    why = file_problem(Path(resume) / "spec.yaml")
    if why:
        from ..errors import not_a_run

        raise RunError(not_a_run(resume) if why.startswith("no such file") else f"--resume {resume}: {why}")
    for o in overrides:
        key = o.partition("=")[0].strip()
        if not any(key == k or key.startswith(k + ".") for k in RESUME_OVERRIDES):
            raise RunError(f"-o {key} cannot change a run being resumed (its checkpoint holds the old "
                           "model, data and optimizer); resume takes train.* overrides only; start a new run instead")


def without_nproc(argv: list[str]) -> list[str]:
    """The command line less `--nproc K` / `--nproc=K` (what each torchrun process runs)."""
    out, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--nproc="):
            skip = False
            continue
        skip = arg == "--nproc"
        if not skip:
            out.append(arg)
    return out


def check_world(a, world: int) -> None:
    """The global batch must split evenly over the ranks."""
    if world > 1 and a.spec.train.batch_size % world:
        raise SpecError([a.spec._source.issue(("train", "batch_size"), f"the global batch of "
                         f"{a.spec.train.batch_size} does not split over {world} processes; use a multiple of {world}")])
