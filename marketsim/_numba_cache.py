"""Where numba caches compiled kernels, so that a read-only install still runs.

Every kernel is ``@njit(cache=True)``. numba caches beside the source
(``<package>/__pycache__``) or, when that cannot be written, in the user's cache
(``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba``); when neither can be written (a shared
read-only install run by a user without a writable home) the decorator itself raises
and every command died at import. :func:`ensure_numba_cache` runs before numba is
imported: in that case it sets ``NUMBA_CACHE_DIR`` to a private per-user temporary
folder and says so once on stderr. Worker processes inherit the variable.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

#: the package's folders that hold cached kernels (numba writes beside each source)
_KERNEL_DIRS = ("", "orderbook", "market_rules", "experiments/audit", "agents", "analysis")


def _writable(folder: Path) -> bool:
    """numba's own test of a cache folder: create it, then a temporary file in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def user_cache_home() -> Path:
    """The user's cache folder: ``$XDG_CACHE_HOME``, else ``~/.cache`` (numba's rule; also
    where marketsim keeps its error logs and the reports' Vega bundle)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"))


def _user_cache() -> Path:
    return user_cache_home() / "numba"


def _private_folder() -> Path | None:
    """``<tmp>/marketsim-numba-<uid>``, ours alone (0700), or a fresh one if that name is
    taken by someone else: a cache another user can write could run their code."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = Path(tempfile.gettempdir()) / f"marketsim-numba-{uid}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
        if path.is_symlink() or st.st_uid != uid or st.st_mode & 0o077:
            path = Path(tempfile.mkdtemp(prefix="marketsim-numba-"))
    except OSError:
        return None
    return path if _writable(path) else None


def ensure_numba_cache(package: Path | None = None) -> Path | None:
    """Point numba at a writable cache when neither of its own places can be written.

    Parameters
    ----------
    package : the folder of the ``marketsim`` package (default: this module's)

    Returns
    -------
    The folder chosen, or None when numba's defaults (or the user's NUMBA_CACHE_DIR)
    serve.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    package = Path(__file__).resolve().parent if package is None else package
    dirs = [(package / d).resolve() for d in _KERNEL_DIRS if (package / d).is_dir()]
    if all(_writable(d / "__pycache__") for d in dirs):
        return None
    if _writable(_user_cache()):
        return None
    folder = _private_folder()
    if folder is None:
        return None  # nowhere to write: numba's own error says so
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    if "numba" in sys.modules:  # imported before marketsim: its config was read already
        sys.modules["numba"].config.CACHE_DIR = str(folder)
    print(
        f"note: numba cannot cache compiled kernels beside marketsim ({package}) or in "
        f"{_user_cache()}; caching them in {folder} (set NUMBA_CACHE_DIR to choose)",
        file=sys.stderr,
    )
    return folder
