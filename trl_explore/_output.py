"""Output folders of the commands (`trl-explore demo`, `trl-explore detect`, the example scripts): never lose a file.

The rule, the same for every command that writes a folder:

- a command records the files it wrote in the folder's manifest, ``.trl_explore_manifest.json`` (one list per
  command: ``{"commands": {"trl-explore demo": ["demo_report.md", ...]}}``);
- a re-run of the same command replaces the files of its own list (and removes those of them it does not write
  again, e.g. the runs of a seed that the new run does not have);
- every other file in the folder (yours, or another command's) stays as it is. When the command would write a file of
  the same name, it refuses before writing anything, with one line naming the file(s): move them, or choose another
  folder.

Commands whose file names are known before they run (`check_output_dir` with their names) are refused before any
work; the demo, which writes into a staging folder first (`staged_output`), checks again when it moves its files in
and keeps the staging folder when it has to refuse then.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = [
    "MANIFEST_FILE",
    "OutputFolderError",
    "check_output_dir",
    "commit_staged",
    "folder_files",
    "foreign_files",
    "read_manifest",
    "record_output",
    "staged_output",
    "writing_into",
]

#: Name of the manifest file in an output folder
MANIFEST_FILE = ".trl_explore_manifest.json"
#: Foreign files named in one error message (the rest are counted)
_SHOWN = 5


class OutputFolderError(ValueError):
    """The output folder cannot be written without overwriting files the command did not write (or is a file)."""


def folder_files(folder: str | os.PathLike) -> list[str]:
    """Every file under ``folder`` (recursively, symbolic links not followed) as sorted relative POSIX paths, the
    manifest excluded; ``[]`` when the folder does not exist."""
    root = Path(folder)
    if not root.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath).relative_to(root)
        names = filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        found += [(base / name).as_posix() for name in names]
    return sorted(f for f in found if f != MANIFEST_FILE)


def read_manifest(folder: str | os.PathLike) -> dict[str, list[str]]:
    """``{command: [relative paths]}`` from the folder's manifest; ``{}`` without one (or with an unreadable one:
    then every file counts as foreign, the safe side)."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        return {}
    try:
        commands = json.loads(path.read_text()).get("commands", {})
    except (OSError, ValueError, AttributeError):
        logger.warning("%s is not a manifest this library wrote; treating every file in %s as foreign", path, folder)
        return {}
    return {str(c): [str(f) for f in files] for c, files in commands.items() if isinstance(files, list)}


def foreign_files(folder: str | os.PathLike, command: str) -> list[str]:
    """The files in ``folder`` that ``command`` did not write (not in its list of the manifest)."""
    own = set(read_manifest(folder).get(command, []))
    return [f for f in folder_files(folder) if f not in own]


def _matches(path: str, patterns: Iterable[str]) -> bool:
    """Whether ``path`` matches a pattern; a pattern without ``/`` matches files at the top of the folder only."""
    return any(fnmatch.fnmatchcase(path, p) and ("/" in p or "/" not in path) for p in patterns)


def _refusal(folder: Path, command: str, clashes: list[str], option: str, tail: str = "") -> OutputFolderError:
    shown = ", ".join(clashes[:_SHOWN]) + (f" and {len(clashes) - _SHOWN} more" if len(clashes) > _SHOWN else "")
    return OutputFolderError(
        f"{option} {folder}: {command} would overwrite file(s) it did not write: {shown}; move them or choose another "
        f"folder.{tail}"
    )


def check_output_dir(
    folder: str | os.PathLike, command: str, writes: Iterable[str], option: str = "--output_dir"
) -> Path:
    """Refuse a folder where ``command`` would overwrite a file it did not write; return it as a `Path`.

    Args:
        folder: the output folder (it need not exist).
        command: the command's name in the manifest (``"trl-explore detect"``).
        writes: the relative paths the command may write, as `fnmatch` patterns (``"runs/*"``,
            ``"checkpoint-*/*"``; a pattern without ``/`` is for the top of the folder).
        option: how the error names the folder's option.

    Raises:
        OutputFolderError: ``folder`` is a file, or holds a foreign file that one of ``writes`` matches.
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{option} {path} is a file; choose a folder.")
    patterns = list(writes)
    clashes = [f for f in foreign_files(path, command) if _matches(f, patterns)]
    if clashes:
        raise _refusal(path, command, clashes, option)
    return path


def record_output(folder: str | os.PathLike, command: str, written: Iterable[str], *, prune: bool = False) -> None:
    """Write ``command``'s list of files (``written``, relative paths) into the folder's manifest, keeping the lists
    of other commands. With ``prune``, the files of ``command``'s previous list that are not in ``written`` are
    removed (they are its own, from an earlier run), and so are folders that this leaves empty."""
    root = Path(folder)
    manifest = read_manifest(root)
    written = sorted(set(written))
    if prune:
        for stale in sorted(set(manifest.get(command, [])) - set(written)):
            path = root / stale
            if path.is_file() or path.is_symlink():
                path.unlink()
                _remove_empty_parents(path.parent, root)
    manifest[command] = written
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{MANIFEST_FILE}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps({"commands": manifest}, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, root / MANIFEST_FILE)


def _remove_empty_parents(path: Path, root: Path) -> None:
    while path != root and path.is_dir() and not any(path.iterdir()):
        path.rmdir()
        path = path.parent


def commit_staged(staging: str | os.PathLike, folder: str | os.PathLike, command: str, option: str) -> None:
    """Move every file of ``staging`` into ``folder`` (each one replaced atomically), remove ``command``'s files of
    an earlier run that this one did not write again, update the manifest and remove ``staging``.

    Raises:
        OutputFolderError: a file of ``staging`` would overwrite a foreign file of ``folder``; nothing is moved and
            ``staging`` is kept (the message says where).
    """
    staging, root = Path(staging), Path(folder)
    new = folder_files(staging)
    clashes = sorted(set(new) & set(foreign_files(root, command)))
    if clashes:
        raise _refusal(root, command, clashes, option, f" The results are in {staging}.")
    root.mkdir(parents=True, exist_ok=True)
    for rel in new:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, target)
    record_output(root, command, new, prune=True)
    shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def staged_output(
    folder: str | os.PathLike,
    command: str,
    writes: Iterable[str],
    option: str = "--output_dir",
    keep_on_error: Callable[[Path], bool] | None = None,
) -> Iterator[Path]:
    """Check ``folder`` (`check_output_dir`), yield a staging folder next to it and, when the block succeeds, move
    the staged files in (`commit_staged`). When the block fails, ``folder`` is untouched and the staging folder is
    removed, unless ``keep_on_error(staging)`` is true (e.g. it holds finished results worth keeping)."""
    root = check_output_dir(folder, command, writes, option).resolve()
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the files keep the usual permissions
    try:
        yield staging
    except BaseException:
        if keep_on_error is None or not keep_on_error(staging):
            shutil.rmtree(staging, ignore_errors=True)
        raise
    commit_staged(staging, root, command, option)


def _stat(path: Path) -> tuple[int, int]:
    info = path.lstat()
    return info.st_mtime_ns, info.st_size


@contextlib.contextmanager
def writing_into(
    folder: str | os.PathLike,
    command: str,
    writes: Iterable[str],
    option: str = "--output_dir",
    *,
    prune: bool = True,
    record: bool = True,
) -> Iterator[Path]:
    """For a command that writes into ``folder`` in place: check it (`check_output_dir`), run the block, then record
    in the manifest the files the block wrote (new, or changed since it started; the foreign files of the start never
    count as its own).

    Args:
        prune (`bool`, *optional*, defaults to `True`):
            After a successful block, remove ``command``'s files of an earlier run that the block did not write
            again (a trainer keeps them: `False`, its earlier checkpoints may be resumed from).
        record (`bool`, *optional*, defaults to `True`):
            Write the manifest (`False` on the non-main processes of a distributed run).
    """
    root = check_output_dir(folder, command, writes, option)
    foreign = set(foreign_files(root, command))
    before = {f: _stat(root / f) for f in folder_files(root) if f not in foreign}
    succeeded = False
    try:
        yield root
        succeeded = True
    finally:
        if record and root.is_dir():
            own = [f for f in folder_files(root) if f not in foreign]
            if prune and succeeded:
                own = [f for f in own if f not in before or _stat(root / f) != before[f]]
            record_output(root, command, own, prune=prune and succeeded)
