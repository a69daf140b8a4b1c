"""Free the calling thread's OpenMP worker pool, so the model thread's pool is the only one.

torch's CPU kernels run their parallel regions on an OpenMP team owned by the calling
thread. Once the main thread has run one (loading the model does), its idle team stays
alive; when the executor's worker thread then runs the forward with a team of its own,
libgomp counts more managed threads than CPUs and stops spinning between regions, so
every small op pays a futex wake-up: a SmolLM2 decode step took 68 ms in the worker
thread against 38 ms in the main thread on 2 cores. ``omp_pause_resource_all`` (OpenMP
5.0, in libgomp and LLVM/Intel's runtime) frees the calling thread's pool; the next
parallel region in that thread builds a new one.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

log = logging.getLogger(__name__)

OPENMP_LIBRARY_NAMES = ("libgomp", "libiomp", "libomp")
OMP_PAUSE_SOFT = 1


def loaded_openmp_libraries(maps: Path = Path("/proc/self/maps")) -> list[str]:
    """Paths of the OpenMP runtimes mapped into this process (Linux); empty elsewhere."""
    try:
        lines = maps.read_text().splitlines()
    except OSError:
        return []
    found: list[str] = []
    for line in lines:
        path = line.split()[-1] if line.strip() else ""
        name = Path(path).name
        if path.startswith("/") and name.startswith(OPENMP_LIBRARY_NAMES) and path not in found:
            found.append(path)
    return found


class OpenMPPool:
    """Calls ``omp_pause_resource_all`` of every loaded OpenMP runtime that has it."""

    def __init__(self, libraries: list[str] | None = None) -> None:
        self.pause_functions = []
        for path in loaded_openmp_libraries() if libraries is None else libraries:
            try:
                lib = ctypes.CDLL(path)
                pause = lib.omp_pause_resource_all
            except (OSError, AttributeError) as err:
                log.debug("no omp_pause_resource_all in %s (%s)", path, err)
                continue
            pause.argtypes = [ctypes.c_int]
            pause.restype = ctypes.c_int
            self.pause_functions.append(pause)

    @property
    def available(self) -> bool:
        return bool(self.pause_functions)

    def release_calling_thread(self) -> bool:
        """Free this thread's idle OpenMP workers; True when every runtime agreed (a thread
        inside a parallel region cannot, and gets False)."""
        return all(pause(OMP_PAUSE_SOFT) == 0 for pause in self.pause_functions)
