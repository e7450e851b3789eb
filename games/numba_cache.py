"""Where numba keeps move37's compiled kernels: one cache directory per version of the kernel
sources, so that no cached kernel ever outlives an edit of a kernel it calls.

numba checks a cached kernel only against its own file's timestamp. A kernel that calls one from
another file (the compiled rollout search calls every game's rules) would keep running the old
code after that other file changed. Keying the whole cache by a hash of every module of games/
and mcts/ makes any edit there start a fresh cache, and cross-file calls safe. The directory sits in the
user's cache directory (site-packages may be read-only), under `$NUMBA_CACHE_DIR` when that is
set. `configure()` runs when `games` or `mcts` is imported, before any kernel is decorated.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import numba

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("games", "mcts")  # the packages that hold numba kernels and the constants they read


def sources_hash(root: Path = ROOT) -> str:
    """A hash of the name and text of every module of `PACKAGES` (their subpackages hold no
    kernels), and of numba's version."""
    digest = hashlib.blake2b(digest_size=8)
    for package in PACKAGES:
        for path in sorted((root / package).glob("*.py")):
            digest.update(f"{package}/{path.name}".encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(numba.__version__.encode())
    return digest.hexdigest()


def cache_dir() -> Path:
    base = os.environ.get("NUMBA_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    sub = Path("move37-numba") if os.environ.get("NUMBA_CACHE_DIR") else Path("move37") / "numba"
    return Path(base) / sub / sources_hash()


def _prune(current: Path, days: float = 30.0) -> None:
    """Touch this version's directory and remove those of other versions untouched for `days`
    (each is a few megabytes; every edit of the sources makes a new one)."""
    try:
        os.utime(current)
    except OSError:
        return
    cutoff = time.time() - days * 86400
    for other in current.parent.iterdir():
        try:
            if other != current and other.is_dir() and other.stat().st_mtime < cutoff:
                shutil.rmtree(other, ignore_errors=True)
        except OSError:
            pass


def configure() -> str:
    """Point numba's cache at this version's directory (a temporary one when the user's cache
    directory cannot be written); returns it."""
    if getattr(numba.config, "_move37_cache", None):
        return numba.config.CACHE_DIR
    path = cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        path = Path(tempfile.gettempdir()) / f"move37-numba-{os.getuid() if hasattr(os, 'getuid') else 0}" / path.name
        path.mkdir(parents=True, exist_ok=True)
    _prune(path)
    numba.config.CACHE_DIR = str(path)
    numba.config._move37_cache = True
    return str(path)


configure()
