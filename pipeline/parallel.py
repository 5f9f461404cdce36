"""Frames of one sample in parallel, results in frame order (the `threads:` of segment and measure).

`map_frames` runs a per-frame function on a pool of threads or forked worker processes. The
inputs are pulled from an iterator in the calling thread, one frame at a time and in order (movie
and label readers are not thread-safe), and at most `2 * threads` frames are in flight, so memory
stays bounded by a few frames whatever the movie's length. Results come back in input order, so a
writer that consumes them writes the same bytes as a one-thread run. Processes for classic
segmentation and measure: their per-frame work (scikit-image watershed and regionprops, Python
loops) holds the GIL enough that two threads ran slower than one (benchmarks/bench_threads.py);
threads where a loaded model is shared. Forked, not spawned: spawn and forkserver import the main
module again, which in a Snakemake script is the step itself. Hand-written because
`concurrent.futures.Executor.map` submits every item at once (the whole movie in memory) and its
errors do not say which frame failed.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

from marrowflow.errors import MarrowflowError

__all__ = ["MAX_SAMPLE_THREADS", "FrameError", "check_threads", "map_frames", "sample_threads"]

R = TypeVar("R")


class FrameError(MarrowflowError):
    """A frame failed in a worker; the message names the source (file) and the frame."""


def check_threads(threads: Any) -> int:
    """`threads` as an int >= 1, else ValueError naming the fix."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads is {threads!r}; expected an integer >= 1 (the rule's threads, "
                         "config key jobs.threads_per_sample)")
    return threads


MAX_SAMPLE_THREADS = 8  # threads of a sample's job when jobs.threads_per_sample is not set: at most this many


def sample_threads(setting: int | None, cores: int | None, n_samples: int) -> int:
    """Threads of each sample's segment, measure and evaluate jobs (config `jobs.threads_per_sample`).

    Set: that number (Snakemake lowers it to the cores it is given). Not set: the `cores` given to
    Snakemake shared among the `n_samples` samples, at least 1 and at most MAX_SAMPLE_THREADS. One
    sample gets every core; many samples run side by side, which pays more than threads do (two
    threads gain 1.7-1.8x on segment, samples side by side about 2x, and a small movie's job gains
    nothing from threads while it holds every core). Without a core count (cluster execution,
    where each job asks for its own cores): MAX_SAMPLE_THREADS.
    """
    if setting is not None:
        return check_threads(setting)
    if not cores:
        return MAX_SAMPLE_THREADS
    return max(1, min(MAX_SAMPLE_THREADS, cores // max(n_samples, 1)))


def _frame_error(source: str, frame: int | None, exc: BaseException) -> FrameError:
    return FrameError(f"{source}, frame {frame}: {type(exc).__name__}: {exc}")


def map_frames(fn: Callable[..., R], items: Iterable[tuple[Any, ...]], *, threads: int = 1,
               source: str = "", frames: Iterable[int] | None = None, processes: bool = False,
               initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> Iterator[R]:
    """Yield `fn(*item)` for each item of `items`, in order, computed on `threads` threads.

    `items` is consumed lazily in the calling thread (it may read frames from a file); at most
    `2 * threads` items are pending at a time. `frames` gives each item's frame number for error
    messages (default 0, 1, ...). An exception in `fn`, or in reading an item (other than a
    MarrowflowError, passed on as it is), raises FrameError
    "<source>, frame <t>: <type>: <message>" chained to the original; pending frames are dropped.
    With `threads` 1 everything runs in the calling thread (after `initializer(*initargs)`).
    `processes`: worker processes instead of threads (forked, where the platform can fork; else
    threads), for work that holds the GIL: `fn`, the items and results must pickle; `initializer`
    builds per-process state once.
    """
    threads = check_threads(threads)
    numbers = iter(frames) if frames is not None else itertools.count()
    source = source or "frames"
    it = iter(items)

    def pull() -> tuple[int, tuple[Any, ...]] | None:
        t = next(numbers, None)
        try:
            return t, next(it)
        except StopIteration:
            return None
        except MarrowflowError:  # the reader's own error already names the file and the fix
            raise
        except Exception as exc:
            raise _frame_error(source, t, exc) from exc

    if threads == 1:
        if initializer is not None:
            initializer(*initargs)
        while (got := pull()) is not None:
            t, item = got
            try:
                result = fn(*item)
            except Exception as exc:
                raise _frame_error(source, t, exc) from exc
            yield result
        return
    pending: deque[tuple[int, Future]] = deque()
    if processes and "fork" in multiprocessing.get_all_start_methods():
        # fork: spawn and forkserver run the main module again, which for a Snakemake script is the step
        context = multiprocessing.get_context("fork")
        executor: Executor = ProcessPoolExecutor(max_workers=threads, mp_context=context,
                                                 initializer=initializer, initargs=initargs)
    else:
        executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="marrowflow-frame",
                                      initializer=initializer, initargs=initargs)
    with executor as pool:
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < 2 * threads:
                    got = pull()
                    if got is None:
                        exhausted = True
                    else:
                        pending.append((got[0], pool.submit(fn, *got[1])))
                if not pending:
                    return
                t, future = pending.popleft()
                try:
                    result = future.result()
                except Exception as exc:
                    raise _frame_error(source, t, exc) from exc
                yield result
        finally:
            for _, future in pending:
                future.cancel()
