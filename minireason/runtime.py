"""Process-level speed settings, in one place: what each is, when it is applied, how to turn it off.

A CPU backend runs fastest with a few settings that belong to the whole process, not to one op.
They are switched explicitly, by the name of the kind of work, where that work starts: the
decoding entry points (``generation.generate``, ``stream_generate``) run in ``use_profile(DECODE)``
and the training loop's ``train()`` in ``use_profile(TRAIN)``; a gradient computed outside every
profile (a user's own loop calling the model's loss seam) switches the process to ``TRAIN``
(``activate_unless_active``) and leaves it there; docs/kernels.md ("Process settings") has the why.
Nothing else changes process state: no config field, no op, no backend.

Once per process (``apply_process_settings``, by the first switch, or before the first batch is
split over the cores):

- OpenMP's wait between parallel regions (numba backend): ``GOMP_SPINCOUNT=20000``, a short spin
  and then sleep (``KMP_BLOCKTIME=0`` for Intel's runtime).  Must be in the environment before
  numba starts its threads, so ``kernels/numba_threads.py`` calls ``set_openmp_wait_policy``
  when the kernels are imported; a value the user exported wins.
- glibc keeps freed memory for reuse (``mallopt``), in one heap for every thread: the same
  multi-megabyte arrays are made and freed every step, and are otherwise page-faulted and
  zero-filled again each time.  ``MALLOC_ARENA_MAX`` exported by the user wins.
- OpenBLAS's worker threads poll for new work for 2^24 cycles (a few milliseconds) after a product,
  not its default 2^28 (about 0.1 s), which keeps them spinning beside the numba kernels long
  after a prefill's products when the decoding steps that follow run none (a batch of a few rows).
  Set once, not per ``generate`` call: changing it restarts OpenBLAS's threads.  A value the user
  exported in ``OPENBLAS_THREAD_TIMEOUT`` wins, here and in the profiles below.

By the kind of work (profiles):

- ``decode``: the process's polling: a decoding step runs hundreds of small products back to back
  and would pay a wake-up for each one if the threads slept.
- ``train``: OpenBLAS's workers sleep as soon as a product ends,
  so that the numba kernels between the products have the cores to themselves
  (``set_blas_thread_timeout``).

A switch of OpenBLAS's polling restarts its threads (about a millisecond, plus the threads' start
at the next product), so it happens once per block of work (a training run, the rollouts inside
it), never per op, and not at all for ``generate`` calls outside training (``decode`` keeps the
process's polling); switching to the profile already in force changes nothing.  ``use_profile`` gives the previous
profile back after its block: GRPO's rollouts inside a training run decode in ``decode`` and return
to ``train`` for the learner step.

While one thread multiplies inside a parallel kernel (numba attention's tiles), the OpenBLAS
behind numba is held to one thread: ``single_threaded_blas``.  A product too small to gain from a
second thread runs on one (``serial_blas``, chosen by its size in the numba backend's table): a
thread hand-off costs more than such a product, and far more where the cores are busy.

A batch big enough is split by rows, one part per thread (``run_on_cores``: the model's forward
and backward; a decoding step where its threshold allows, off by default), with every library on
one thread while the parts run: the threads then meet once per forward or backward, not at every
op (``parallel_threads`` says how many).

A server decodes in one thread while another answers HTTP (``thread_switch_interval``): the HTTP
thread gives up the interpreter lock at every socket call and, with the default 5 ms switch
interval, waits that long to get it back from the decoding thread after each one.

``MINIREASON_RUNTIME=off`` in the environment leaves every setting at the libraries' defaults:
for measuring what the settings are worth.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

DECODE, TRAIN = "decode", "train"
SHORTEST_TIMEOUT = 4  # OpenBLAS clamps OPENBLAS_THREAD_TIMEOUT to 4..30 (2^4 to 2^30 cycles)
PROCESS_TIMEOUT = 24  # about 6 ms at 3 GHz: longer than the gaps between a decoding step's products
DEFAULT_TIMEOUT = 28  # OpenBLAS's own: about 0.1 s at 3 GHz
LONGEST_TIMEOUT = 30
M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's maximum: blocks up to 32 MiB come from the heap
TRIM_THRESHOLD_BYTES = 2**30  # keep up to 1 GiB of free heap top
TOP_PAD_BYTES = 64 * 2**20  # glibc's size of a thread arena's heap: a wholly free one is kept, not unmapped
OPENMP_SPIN_COUNT = "20000"


@dataclass(frozen=True)
class Profile:
    """The settings one kind of work runs with."""

    name: str
    blas_thread_timeout: int  # OpenBLAS's workers poll 2^this cycles after a product, then sleep


PROFILES = {
    DECODE: Profile(DECODE, blas_thread_timeout=PROCESS_TIMEOUT),
    TRAIN: Profile(TRAIN, blas_thread_timeout=SHORTEST_TIMEOUT),  # asleep as soon as a product ends
}


def enabled() -> bool:
    """False when ``MINIREASON_RUNTIME=off`` (or 0 / false / no): every setting left to the libraries."""
    return os.environ.get("MINIREASON_RUNTIME", "on").strip().lower() not in {"off", "0", "false", "no"}


class _State:
    """What is applied now (None: the library's default, untouched)."""

    def __init__(self) -> None:
        self.process_settings_applied = False
        self.active: str | None = None  # profile name; None until the first switch (or with the runtime off)
        self.keep_freed_memory: bool | None = None
        self.blas_thread_timeout: int | None = None  # None: OpenBLAS's own (the user's export, else DEFAULT_TIMEOUT)


_state = _State()


def current_profile() -> str | None:
    """The active profile's name, or None before the first switch (or with the runtime off)."""
    return _state.active


def blas_workers_poll() -> bool:
    """Whether OpenBLAS's workers poll after a product (every profile but ``train``, whose workers
    sleep as soon as a product ends): the cores are then theirs until the next product, and a
    parallel kernel between two products has to share them (the numba backend's table)."""
    return (_state.blas_thread_timeout or exported_blas_thread_timeout() or DEFAULT_TIMEOUT) > SHORTEST_TIMEOUT


def settings() -> dict:
    """What is in force now, for logs and benchmark records."""
    return {"enabled": enabled(), "profile": _state.active, "keep_freed_memory": _state.keep_freed_memory,
            "blas_thread_timeout": _state.blas_thread_timeout or exported_blas_thread_timeout(),
            "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT"), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")}


# ----------------------------------------------------------------------------- once per process
def set_openmp_wait_policy() -> None:
    """A short spin, then sleep, for numba's OpenMP threads; before they start.  A user's value wins."""
    if not enabled():
        return
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = OPENMP_SPIN_COUNT
        os.environ.setdefault("KMP_BLOCKTIME", "0")


def apply_process_settings() -> None:
    """The process-wide settings, once (the first profile switch calls it)."""
    if _state.process_settings_applied or not enabled():
        return
    _state.process_settings_applied = True
    set_openmp_wait_policy()
    _state.keep_freed_memory = _mallopt(MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES, TOP_PAD_BYTES)
    _set_blas_polling(PROCESS_TIMEOUT)


# ----------------------------------------------------------------------------- profiles
def exported_blas_thread_timeout() -> int | None:
    """The polling exponent the user exported in ``OPENBLAS_THREAD_TIMEOUT`` (a positive whole
    number, clamped to 4..30 as OpenBLAS does), or None where none was (OpenBLAS ignores anything else)."""
    try:
        exponent = int(os.environ.get("OPENBLAS_THREAD_TIMEOUT", ""))
    except ValueError:
        return None
    return min(max(exponent, SHORTEST_TIMEOUT), LONGEST_TIMEOUT) if exponent > 0 else None


def _set_blas_polling(exponent: int) -> None:
    """OpenBLAS's workers poll 2^exponent cycles after a product; nothing happens when they already
    do, or when the user exported OPENBLAS_THREAD_TIMEOUT (their value wins, as it does for the
    OpenMP wait policy)."""
    if exported_blas_thread_timeout() is not None:
        _state.blas_thread_timeout = None  # not ours: the user's, as OpenBLAS read it
        return
    if (_state.blas_thread_timeout or DEFAULT_TIMEOUT) == exponent:
        _state.blas_thread_timeout = exponent
        return
    set_blas_thread_timeout(exponent)
    _state.blas_thread_timeout = exponent


def activate(name: str) -> None:
    """Switch to profile ``name`` from now on (the process settings first, once); nothing happens if
    it is active."""
    if name not in PROFILES:
        raise ValueError(f"unknown runtime profile {name!r}; expected one of {', '.join(PROFILES)}")
    if not enabled():
        return
    apply_process_settings()
    _set_blas_polling(PROFILES[name].blas_thread_timeout)
    _state.active = name


def activate_unless_active(name: str) -> None:
    """Switch to profile ``name`` only if none is active: work that starts outside every
    ``use_profile`` block (the model's loss seam called from a user's own loop) still gets its
    kind's settings, once, and stays in them (switching back after each call would restart
    OpenBLAS's threads every step); a profile someone chose is never overridden."""
    if _state.active is None:
        activate(name)


@contextlib.contextmanager
def use_profile(name: str):
    """Profile ``name`` for the block, the previous one afterwards (also when the block raises).
    Yields the profile in force."""
    previous = _state.active
    activate(name)
    try:
        yield PROFILES[name]
    finally:
        if enabled():
            if previous is None:  # before the block no profile was active: the process's polling
                _set_blas_polling(PROCESS_TIMEOUT)
                _state.active = None
            else:
                activate(previous)


# ----------------------------------------------------------------------------- OpenBLAS thread count
def _find_blas_thread_control():
    """(get, set) of the thread count of the OpenBLAS behind numba's np.dot (scipy's), or None.

    Looked up through scipy's cython_blas, whose library resolves the symbols of the OpenBLAS it
    links (``scipy_openblas_*`` in scipy's wheels, ``openblas_*`` in older or system builds).
    """
    try:
        import scipy.linalg.cython_blas as cython_blas

        library = ctypes.CDLL(cython_blas.__file__)
    except (ImportError, OSError):
        return None
    return _thread_controls(library)  # None for another BLAS: left as it is


@functools.cache
def _blas_thread_control():
    return _find_blas_thread_control()


@contextlib.contextmanager
def single_threaded_blas():
    """The OpenBLAS behind numba's np.dot runs one thread in the block; its previous count after.

    For parallel kernels whose threads each call BLAS on a tile: OpenBLAS splits a product above
    about 64^3 multiply-adds over its own threads, and two kernel threads doing that at once
    serialise on its one thread pool (docs/kernels.md)."""
    control = _blas_thread_control()
    if control is None:
        yield
        return
    get_threads, set_threads = control
    previous = get_threads()
    set_threads(1)
    try:
        yield
    finally:
        set_threads(previous)


def _thread_controls(library) -> tuple | None:
    """(get, set) of one OpenBLAS's thread count, whatever its symbol prefix and suffix (SciPy's wheels:
    ``scipy_openblas_*``; NumPy's 64-bit-integer build: ``scipy_openblas_*64_``; other builds
    ``openblas_*``), or None."""
    for prefix, suffix in (("scipy_openblas", ""), ("scipy_openblas", "64_"), ("openblas", ""), ("openblas", "64_")):
        get_threads = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
        set_threads = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
        if get_threads is not None and set_threads is not None:
            get_threads.restype = ctypes.c_int
            set_threads.argtypes = (ctypes.c_int,)
            return get_threads, set_threads
    return None


@functools.cache
def _numpy_blas_thread_control():
    """(get, set) of the thread count of the OpenBLAS behind NumPy's products, or None."""
    import numpy  # noqa: F401  (loads NumPy's OpenBLAS)

    for library in _loaded_openblas_libraries():
        if "numpy" in library._name:  # NumPy's own copy (numpy.libs, or numpy/.dylibs)
            return _thread_controls(library)
    return None


@contextlib.contextmanager
def serial_blas():
    """NumPy's OpenBLAS runs one thread in the block, its previous count after (a few microseconds:
    the thread pool is kept, only the count used changes)."""
    control = _numpy_blas_thread_control()
    if control is None:
        yield
        return
    get_threads, set_threads = control
    previous = get_threads()
    if previous == 1:
        yield
        return
    set_threads(1)
    try:
        yield
    finally:
        set_threads(previous)


@contextlib.contextmanager
def blas_threads(count: int):
    """Every loaded OpenBLAS (NumPy's and SciPy's) runs at most ``count`` threads in the block; each
    gets its previous count back after.

    The in-process form of ``OPENBLAS_NUM_THREADS`` (which OpenBLAS reads only at start): for timing
    one side of a comparison on a fixed number of threads, or leaving cores to other work.
    Elsewhere (no OpenBLAS, not Linux) nothing changes."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"blas_threads: expected an int >= 1, got {count!r}")
    import numpy  # noqa: F401  (loads NumPy's OpenBLAS)

    controls = [_thread_controls(library) for library in _loaded_openblas_libraries()]
    with _threads_capped([control for control in controls if control is not None], count):
        yield


@contextlib.contextmanager
def _threads_capped(controls: list[tuple], count: int):
    """Each (get, set) thread control at most ``count`` in the block, its previous count back after."""
    changed = []
    for get_threads, set_threads in controls:
        previous = get_threads()
        if previous > count:
            set_threads(count)
            changed.append((set_threads, previous))
    try:
        yield
    finally:
        for set_threads, previous in changed:
            set_threads(previous)


# ----------------------------------------------------------------------------- work split over the cores
def parallel_threads() -> int:
    """How many threads the work of this process may split over now: the thread count of NumPy's
    OpenBLAS (``OPENBLAS_NUM_THREADS``, else the cores; 1 inside ``serial_blas`` or
    ``blas_threads(1)``), or the cores where that count cannot be read."""
    control = _numpy_blas_thread_control()
    return max(1, control[0]() if control is not None else os.cpu_count() or 1)


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_workers = 0


def _worker_pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of at least ``workers`` threads, kept between calls (a thread's start
    costs more than a small task)."""
    global _pool, _pool_workers
    apply_process_settings()  # before the threads exist: they take the one heap (``_mallopt``)
    with _pool_lock:
        if _pool is None or _pool_workers < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="minireason-core")
            _pool_workers = workers
        return _pool


@contextlib.contextmanager
def _numba_on_one_thread():
    """Numba's parallel kernels run on the calling thread alone in the block (numba's count is per
    thread); nothing to do where numba is not loaded."""
    numba = sys.modules.get("numba")
    if numba is None:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _loaded_blas_controls() -> list[tuple]:
    """(get, set) of the thread count of NumPy's OpenBLAS and, once loaded, SciPy's (behind numba's
    np.dot): each looked up once, so a switch costs microseconds, not a read of /proc/self/maps."""
    controls = [control for control in (_numpy_blas_thread_control(),
                                        _blas_thread_control() if "scipy.linalg" in sys.modules else None)
                if control is not None]
    return list({id(control[1]): control for control in controls}.values())


def _all_blas_on_one_thread():
    return _threads_capped(_loaded_blas_controls(), 1)


def _one_thread_task(task: Callable):
    with _numba_on_one_thread():
        return task()


def run_on_cores(tasks: list[Callable]) -> list:
    """``[task() for task in tasks]``, each task on a thread of its own (the caller runs the first),
    with every OpenBLAS and numba's kernels on one thread meanwhile; the results in order.

    One owner per core: each task runs its products and kernels serially on its own core, so the
    tasks meet once, at the end, instead of at every product and kernel the way a library's own
    threads do (a barrier per op, which costs far more than the op when another process takes one
    of the cores).  NumPy and numba release the interpreter lock while they compute, so the tasks
    run side by side.  For tasks that share nothing they write (the rows of a batch).  An
    exception of a task is raised after every task has ended."""
    if len(tasks) == 1:
        return [tasks[0]()]
    pool = _worker_pool(len(tasks) - 1)
    with _all_blas_on_one_thread():
        futures = [pool.submit(_one_thread_task, task) for task in tasks[1:]]
        try:
            first = _one_thread_task(tasks[0])
        finally:
            for future in futures:  # every task ends before the thread counts are given back
                future.exception()
    return [first, *(future.result() for future in futures)]


# ----------------------------------------------------------------------------- the mechanisms
def _mallopt(mmap_threshold: int, trim_threshold: int, top_pad: int) -> bool:
    """glibc serves blocks up to ``mmap_threshold`` bytes from its heap, keeps up to
    ``trim_threshold`` bytes of free heap top, gives every thread started from now on the one heap,
    and keeps ``top_pad`` bytes when it trims.  True when all four were taken; False without glibc.
    (Setting the thresholds ends glibc's own adjustment of them; its starting values are the
    defaults restored.)

    A thread other than the main one otherwise allocates from an arena of its own, made of 64 MiB
    heaps that glibc unmaps whenever one is wholly free, whatever the trim threshold; a part of a
    training batch run on a second core (``run_on_cores``) frees its forward's arrays in its
    backward, so every step page-faulted its next step's arrays again (docs/kernels.md, "Process
    settings").  One arena for new threads; and a heap-sized top pad, because a thread may still
    be handed the arena of a thread that ended before these settings (glibc reuses those whatever
    the arena limit), and with the pad glibc keeps that arena's heaps.  NumPy's arrays are few and
    large, so one arena's lock is never contended."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    one_heap = "MALLOC_ARENA_MAX" in os.environ or mallopt(M_ARENA_MAX, 1)  # the user's value wins
    return all([mallopt(M_MMAP_THRESHOLD, mmap_threshold), mallopt(M_TRIM_THRESHOLD, trim_threshold),
                mallopt(M_TOP_PAD, top_pad), one_heap])


def _loaded_openblas_libraries() -> list[ctypes.CDLL]:
    """Every OpenBLAS this process has loaded, found in /proc/self/maps (NumPy's, and SciPy's, whose
    copy the Numba kernels' tile products call); empty if none or not Linux."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return []
    libraries = []
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)  # already loaded: this returns a handle to the same copy
        except OSError:
            continue
        if all(hasattr(library, name) for name in ("openblas_read_env", "blas_thread_shutdown_",
                                                    "openblas_thread_timeout")):
            library.openblas_thread_timeout.restype = ctypes.c_int
            libraries.append(library)
    return libraries


def set_blas_thread_timeout(exponent: int) -> bool:
    """Restart the worker threads of every loaded OpenBLAS polling for 2^exponent cycles after a
    product (4 to 30; OpenBLAS's default is 28).  Returns True when it did.  Call it between
    products, not while another thread may be inside BLAS.

    OpenBLAS reads the polling time from ``OPENBLAS_THREAD_TIMEOUT`` when it starts its threads, so
    this sets the variable for a moment, has every loaded OpenBLAS read its environment again and
    stops their threads; the next product starts them with the new timeout.  Needs an OpenBLAS
    that exports the functions it calls (NumPy's and SciPy's wheels do); elsewhere nothing changes."""
    if not SHORTEST_TIMEOUT <= exponent <= LONGEST_TIMEOUT:
        raise ValueError(f"OpenBLAS's thread timeout exponent must be {SHORTEST_TIMEOUT} to {LONGEST_TIMEOUT}, "
                         f"got {exponent}")
    import numpy  # noqa: F401  (loads NumPy's OpenBLAS)

    libraries = _loaded_openblas_libraries()
    if not libraries:
        return False
    previous = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(exponent)
    try:
        for library in libraries:
            library.openblas_read_env()
    finally:  # the process's environment as it was; OpenBLAS has read the value
        if previous is None:
            del os.environ["OPENBLAS_THREAD_TIMEOUT"]
        else:
            os.environ["OPENBLAS_THREAD_TIMEOUT"] = previous
    for library in libraries:
        library.blas_thread_shutdown_()  # the next product starts the threads with the new timeout
    return all(library.openblas_thread_timeout() == exponent for library in libraries)


# How often (seconds) Python makes a running thread hand the interpreter lock over while a server
# decodes: short, so the HTTP thread's wait after each socket call stays short.
SERVER_SWITCH_INTERVAL = 0.0005


@contextlib.contextmanager
def thread_switch_interval(seconds: float = SERVER_SWITCH_INTERVAL):
    """Python's thread switch interval set to ``seconds`` for the block (the previous one afterwards);
    nothing changes when the runtime settings are off."""
    previous = sys.getswitchinterval()
    if enabled():
        sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
