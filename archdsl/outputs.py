"""The files a command writes: refused before any work when writing them would
destroy something, then written all or nothing.

A command names the files it reads (`Outputs.read`) and the ones it will write
(`Outputs.add`), calls `check()` before its real work, and `write()` at the end.
`check()` refuses an output that is one of the inputs (compared by device and
inode, and by real path), one that is another output of the same command, one
whose path holds something other than a regular file (a directory, a device, a
FIFO, a socket), and one whose directory is missing or cannot be written.
`write()` stages every output in a temporary file beside its target, flushes
and fsyncs it, gives it its mode (a replaced file's own, else 0o666 less the
umask), and only when every output is staged renames them all into place. An
error before the renames (a full disk, a writer that fails, SIGINT, SIGTERM or
SIGHUP) removes every temporary file and leaves every target as it was.
docs/limits.md, "What archdsl writes", states the rules for users.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

STDOUT = "-"  # as an output path: standard output, where a command allows it
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                if hasattr(signal, name))

Writer = Callable  # writer(binary file), or writer(path) for an output added with to_path


class OutputError(Exception):
    """An output cannot be written as asked (exit 2); the message names it and says why."""

    def __init__(self, message: str, help: str = ""):
        super().__init__(message)
        self.help = help


class Interrupted(BaseException):
    """A signal arrived while outputs were being written; nothing was left half-written."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.code = 128 + signum  # the shell's convention for a process ended by a signal


@dataclass
class _Target:
    flag: str  # the option that named it, e.g. "-o" or "--weights"
    path: str  # as given
    stdout: bool  # `-` allowed
    to_path: bool  # the writer takes a path to create, not an open file
    make_parent: bool  # a missing directory is created (the default codegen/)

    @property
    def shown(self) -> str:
        return f"{self.flag} {self.path}"

    @property
    def is_stdout(self) -> bool:
        return self.stdout and self.path == STDOUT


class Outputs:
    """The outputs of one command, checked together and written together."""

    def __init__(self) -> None:
        self._targets: list[_Target] = []
        self._inputs: list[tuple[str, str, tuple[int, int] | None]] = []  # what, real, inode
        self._temps: list[str] = []
        self._made: list[str] = []
        self._committing = False
        self._pending: int | None = None

    def read(self, path: str | os.PathLike, what: str) -> None:
        """Record a file the command reads (`what` says which, for the refusal)."""
        real = os.path.realpath(path)
        self._inputs.append((what, real, _inode(real)))

    def add(self, flag: str, path: str | os.PathLike, *, stdout: bool = False,
            to_path: bool = False, make_parent: bool = False) -> None:
        """Record an output that `flag` names; `stdout`: `-` means standard output."""
        self._targets.append(_Target(flag, os.fspath(path), stdout, to_path, make_parent))

    @property
    def to_stdout(self) -> bool:
        return any(t.is_stdout for t in self._targets)

    def check(self) -> None:
        """Raise OutputError for the first output that must not be written."""
        seen: dict[object, _Target] = {}
        for target in self._targets:
            if target.is_stdout:
                continue
            _refuse_path(target)
            real = os.path.realpath(target.path)
            inode = _inode(real)
            for what, input_real, input_inode in self._inputs:
                if real == input_real or (inode is not None and inode == input_inode):
                    raise OutputError(f"{target.shown}: that is {what}, which this command "
                                      "reads; writing it would destroy it",
                                      help="write the output to another file")
            key = inode or real
            if key in seen:
                raise OutputError(f"{target.shown}: the same file as {seen[key].shown}",
                                  help="give each output its own file")
            seen[key] = target

    def write(self, writers: dict[str, Writer]) -> None:
        """Write each output with `writers[flag]`: all of them, or none.

        OSError becomes OutputError; any error removes every temporary file first."""
        self.check()
        unmatched = {t.flag for t in self._targets} ^ writers.keys()
        if unmatched:
            raise ValueError(f"writers do not match the outputs: {sorted(unmatched)}")
        with self._signals():
            target = None
            try:
                renames = []
                for target in self._targets:
                    if not target.is_stdout:
                        renames += self._stage(target, writers[target.flag])
                target = None
                self._commit(renames)
            except BaseException as exc:
                self._committing = True  # a second signal must not cut the cleaning short
                self._clean()
                self._committing = False
                if isinstance(exc, OSError):
                    raise OutputError(_oserror(exc, target)) from None
                raise
        for target in self._targets:
            if target.is_stdout:
                sys.stdout.flush()
                writers[target.flag](sys.stdout.buffer)
                sys.stdout.flush()

    # --------------------------------------------------------------- staging

    def _stage(self, target: _Target, writer: Writer) -> list[tuple[str, str]]:
        """Write `target` into temporary files beside it; (temporary, final) pairs,
        the file the target names last."""
        final = os.path.realpath(target.path)
        parent, name = os.path.split(final)
        if target.make_parent and not os.path.isdir(parent):
            self._make_dirs(parent)
        if not target.to_path:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=parent)
            self._temps.append(tmp)
            with os.fdopen(fd, "wb") as f:
                writer(f)
                _settle(f.fileno(), _mode(final))
            return [(tmp, final)]
        # A writer that makes its own file (and maybe files beside it, like ONNX's
        # external weights) writes into a private directory beside the target.
        staging = tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=parent)
        self._temps.append(staging)
        writer(os.path.join(staging, name))
        pairs = []
        for made in sorted(os.listdir(staging), key=lambda n: n == name):
            there = os.path.join(parent, made)
            if made != name:  # a file beside the one asked for: the same rules hold
                _refuse_path(_Target(target.flag, there, False, False, False))
            fd = os.open(os.path.join(staging, made), os.O_RDONLY)
            try:
                _settle(fd, _mode(there))
            finally:
                os.close(fd)
            pairs.append((os.path.join(staging, made), there))
        return pairs

    def _commit(self, renames: list[tuple[str, str]]) -> None:
        """Rename every staged file into place; a signal waits until all are."""
        self._committing = True
        try:
            for tmp, final in renames:
                os.replace(tmp, final)
        finally:
            self._committing = False
        for tmp in self._temps:  # the emptied staging directories
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
        self._temps = []
        for directory in dict.fromkeys(os.path.dirname(final) for _, final in renames):
            _sync_directory(directory)
        if self._pending is not None:
            raise Interrupted(self._pending)

    def _make_dirs(self, directory: str) -> None:
        missing = []
        while not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for directory in reversed(missing):
            os.mkdir(directory)
            self._made.append(directory)

    def _clean(self) -> None:
        for tmp in self._temps:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
        for directory in reversed(self._made):
            try:
                os.rmdir(directory)
            except OSError:  # something else was put there meanwhile
                pass
        self._temps, self._made = [], []

    @contextmanager
    def _signals(self):
        """While writing, SIGINT, SIGTERM and SIGHUP raise Interrupted (so the temporary
        files go); during the renames they wait until the last one."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def interrupt(signum, frame):
            if self._committing:
                self._pending = signum
            else:
                raise Interrupted(signum)

        previous = {s: signal.signal(s, interrupt) for s in SIGNALS}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


# ------------------------------------------------------------------- checks


def _refuse_path(target: _Target) -> None:
    """Raise OutputError when `target`'s path is not a place to write a file."""
    if target.path == STDOUT:
        raise OutputError(f"{target.shown}: standard output is not an output of {target.flag}",
                          help="name a file (./- for a file called `-`)")
    real = os.path.realpath(target.path)
    try:
        info = os.stat(real)
    except (FileNotFoundError, NotADirectoryError):  # the directory is checked below
        info = None
    except OSError as e:
        raise OutputError(f"{target.shown}: cannot be looked at ({e.strerror})") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutputError(f"{target.shown}: is {_kind(info.st_mode)}, not a regular file; "
                          "archdsl replaces only regular files",
                          help="name a new file, or a regular file to replace")
    parent = os.path.dirname(real)
    if not os.path.isdir(parent):
        if target.make_parent and _creatable(parent):
            return
        what = "not a directory" if os.path.exists(parent) else "no such directory"
        raise OutputError(f"{target.shown}: {what}: {parent}",
                          help="create the directory first, or name a file in one that exists")
    if not os.access(parent, os.W_OK | os.X_OK):
        why = ("is on a read-only file system" if _read_only(parent)
               else "cannot be written (permission denied)")
        raise OutputError(f"{target.shown}: the directory {parent} {why}",
                          help="write the output somewhere else")


def _creatable(directory: str) -> bool:
    """Whether `directory` can be made: its nearest existing ancestor is a directory."""
    while not os.path.exists(directory):
        directory = os.path.dirname(directory)
    return os.path.isdir(directory)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _read_only(directory: str) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows)
        return False


def _inode(real: str) -> tuple[int, int] | None:
    try:
        info = os.stat(real)
    except OSError:
        return None
    return info.st_dev, info.st_ino


# ------------------------------------------------------------------ writing


def _mode(final: str) -> int:
    """The mode for the file at `final`: the replaced file's, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(final).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _settle(fd: int, mode: int) -> None:
    """Give the open file `fd` its mode and push its bytes to the disk."""
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    os.fsync(fd)


def _sync_directory(directory: str) -> None:
    """fsync a directory, so that the renames in it survive a crash (POSIX only)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not sync directories
        pass
    finally:
        os.close(fd)


def _oserror(exc: OSError, target: _Target | None) -> str:
    """One line for an OSError met while writing: which output, and the system's words."""
    why = exc.strerror or str(exc)
    if target is None:  # a rename failed: the outputs before it are in place
        return f"{exc.filename}: cannot be renamed into place ({why})"
    return f"{target.shown}: cannot be written ({why}); no output was changed"
