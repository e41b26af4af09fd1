"""The peak-SRAM vs extra-MACs curve of the tile pass's schedules as a PNG (`tfc bench|compile
--plot FILE.png`): every planned schedule a point (marker by schedule), the ones built starred,
the smallest arena reached within each extra-MAC count as a staircase, the untiled arena a line
(the view stops at 1.5x the untiled arena).

matplotlib is an optional dependency (`pip install tfc[plot]`), imported only here and only when
a plot is asked for. tfc never overwrites a file it did not write: the PNG carries a `Software`
text chunk naming tfc, and an existing file without it is refused (as `tfc compile -o` refuses a
folder of the user's files).
"""
from __future__ import annotations

import os
import struct
import tempfile

from tfc.errors import OutputError, TfcError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SOFTWARE = "tfc (fused-tile schedules)"    # the PNG's Software text: how tfc knows a file it wrote


def written_by_tfc(path) -> bool:
    """Whether `path` is a PNG whose Software text chunk is tfc's."""
    try:
        with open(path, "rb") as f:
            if f.read(8) != PNG_SIGNATURE:
                return False
            while True:
                head = f.read(8)
                if len(head) < 8:
                    return False
                length, kind = struct.unpack(">I4s", head)
                if kind == b"tEXt":
                    key, _, value = f.read(length).partition(b"\0")
                    if key == b"Software":
                        return value.decode("latin-1") == SOFTWARE
                    f.seek(4, os.SEEK_CUR)
                elif kind in (b"IDAT", b"IEND"):   # text chunks before the image data only
                    return False
                else:
                    f.seek(length + 4, os.SEEK_CUR)
    except OSError:
        return False


def check_plot_file(path) -> None:
    """Refuse (before any work) a plot path tfc may not write: a folder, a missing or read-only
    folder, or an existing file tfc did not write."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(f"{path} is a folder", hint="give a file name for the plot (.png)")
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write {path}: {folder} is not a folder", hint="give a file in an existing folder")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {path}: the folder {folder} is not writable")
    if os.path.lexists(path) and not written_by_tfc(path):
        raise OutputError(f"{path} exists and tfc did not write it: not overwritten",
                          hint="choose another file name for the plot, or remove that file")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise TfcError("--plot needs matplotlib, which is not installed",
                       hint="pip install 'tfc[plot]' (or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_schedules(path, base_arena: int, candidates, title: str) -> None:
    """Write the curve of `candidates` (tfc.passes.tile.TileCandidate) to the PNG `path`."""
    planned = [c for c in candidates if c.arena_bytes is not None]
    if not planned:
        raise TfcError("no fused-tile schedule was planned, so there is no curve to plot",
                       hint="give a budget (--extra-macs 0.10; 0: schedules without extra MACs); without "
                            "one, only a model whose arena does not fit the target's SRAM is tiled")
    check_plot_file(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    styles = {("top-down", False): ("o", "recomputed halos, top-down"),
              ("bottom-up", False): ("v", "recomputed halos, bottom-up"),
              ("top-down", True): ("s", "halo rows kept (top-down)")}
    for (order, reuse), (marker, label) in styles.items():
        group = [c for c in planned if (c.order, c.reuse) == (order, reuse)]
        if group:
            ax.scatter([100 * c.extra_fraction for c in group], [c.arena_bytes / 1024 for c in group],
                       marker=marker, s=22, alpha=0.6, label=label)
    front, best = [], None
    for c in sorted(planned, key=lambda c: (c.extra_fraction, c.arena_bytes)):
        if best is None or c.arena_bytes < best:
            best = c.arena_bytes
            front.append((100 * c.extra_fraction, best / 1024))
    front.append((max(100 * c.extra_fraction for c in planned), best / 1024))   # on to the right edge
    ax.plot(*zip(*front), "k-", lw=1, drawstyle="steps-post", label="smallest arena within the extra MACs")
    chosen = [c for c in planned if c.chosen]
    if chosen:
        ax.scatter([100 * c.extra_fraction for c in chosen], [c.arena_bytes / 1024 for c in chosen], marker="*",
                   s=200, c="red", label="built (" + ", then ".join(f"layers {c.first}..{c.last}" for c in chosen) + ")")
    ax.axhline(base_arena / 1024, color="gray", ls="--", lw=1, label=f"untiled arena ({base_arena:,} B)")
    over = len(candidates) - len(planned)
    top = 1.5 * base_arena / 1024          # schedules far above the untiled arena would flatten the rest
    above = sum(c.arena_bytes / 1024 > top for c in planned)
    ax.set_ylim(0, top)
    ax.set_xlabel("extra MACs (% of the model's)")
    ax.set_ylabel("peak SRAM: arena incl. scratch (KiB)")
    ax.set_title(f"{title}\n{len(planned)} fused-tile schedules planned"
                 + (f" ({above} above the view)" if above else "")
                 + (f", {over} over the extra-MAC budget" if over else ""), fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tfc-plot-", suffix=".png", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", metadata={"Software": SOFTWARE})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; a plot is read like any other file
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
