"""Match jobs on a Dask cluster: the missing-person side in shards (shards.py), one task per resident batch
and shard, the per-shard results merged into exactly what one process would have stored.

Each shard is exact for its own records; what no shard sees alone is merged by the client between rounds:

1. probe (batch x shard): the shard's nearest photos for the batch's faces, the size of every name block
   the batch looks up, and whether the shard's demographic block has records in the accent's region.
2. The client merges them: the top FACE_K (FILTERED_K) over all shards is the merge of each shard's top
   FACE_K (FILTERED_K), so the face hits and their distance floors are those of one search; a name block is
   skipped where it is too large over all shards; the regional flag is global.
3. head (batch x shard): the shard's candidates in upper-bound order with the global face hits, the
   registry entries and the first top k of the others compared in full; their weights and the upper bounds
   and order keys of the first bound + 1. The rankings stay on the worker for the next round.
4. The client makes each resident's floor: the k-th best of the heads' weights over all shards, counting
   only candidates the bound over all shards keeps. The k-th best of some candidates is at most the k-th
   best of all, so no candidate whose upper bound is below the floor can reach the top k: each shard prunes
   against the top k over all shards, not only its own.
   rank (batch x shard): the rest of the pruned search (topk.py) with that floor; each returns, per
   resident, the exact weights its shortlist could need over any prefix of its upper-bound order
   (prefix_entries). Where a resident's candidates over all shards exceed the bound, the bound keeps the
   first `bound` of them by (upper bound, order key) over all shards: a prefix of each shard's order, which
   the client cuts from what the shard returned (as if the shard had ranked with that limit).
5. A resident's shortlist is the shortlist of the union of the shards' (each shard's holds every candidate
   of its own that the whole's top k holds, and ties with its k-th weight; near ties below it, kept only to
   be safe, may be fewer, and are never stored); explain (batch x shard) compares those candidates in full, each in the
   shard that holds it. The client writes the rows, the job and the audit, as a local job does.

Tasks carry only paths, numbers and ids: a task reads the job's files (parameters, the batch's residents as
minimal fields and face templates, the merged hints) from the job folder under the shard root, a folder
every worker reads or object storage by an fsspec URL (shardroot.py). A worker keeps the shards it loaded for
the next task. A worker lost mid-job: the scheduler runs its tasks again elsewhere (up to
`distributed.scheduler.allowed-failures` times), and the job fails clearly past that, storing nothing.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import logging
import pickle
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import numpy as np

from reunite.calibration import Calibration, workspace_calibration
from reunite.candidates import (
    MAX_NAME_BLOCK,
    FaceHits,
    FaceRows,
    Found,
    ShardHints,
    candidates_for_resident,
    face_rows,
    hits_from_rows,
    merge_face_rows,
    name_block_sizes,
    regional_demographic,
)
from reunite.errors import ReuniteError
from reunite.i18n import _
from reunite.jobrecord import JobResult, store_candidates
from reunite.names import NameFrequencies
from reunite.runner import ALERT_WEIGHT, TIE, BatchContext, BatchSpec, PrunedResidentSide, shortlist
from reunite.scoring import Params
from reunite.shardroot import ShardRoot, read_location
from reunite.shards import DEFAULT_SHARD_SIZE, LoadedShard, Manifest, ShardInfo, default_root, load_shard, sync
from reunite.store import Store
from reunite.topk import Ranked, Ranking, Weights
from reunite.topk import ranked as topk_ranked
from reunite.views import ResidentView, load_residents

log = logging.getLogger(__name__)


class EngineError(ReuniteError):
    """The cluster could not run the job (no scheduler at the address, a task lost too often)."""

    exit_code = 7


@dataclass(frozen=True)
class EngineOptions:
    scheduler: str | None = None  # a running scheduler's address; None: a LocalCluster on this machine
    workers: int = 2  # LocalCluster workers (one thread each)
    shards: Path | str | None = None  # the shard root: a folder or an fsspec URL (default <workspace>/cache/shards)
    shard_size: int = DEFAULT_SHARD_SIZE
    on_task: Callable[[object], None] | None = None  # called with the client as each task finishes (tests)
    stall_s: float = 1800.0  # no task finished for this long: the job fails (a hung worker, a lost scheduler)


@dataclass
class JobFiles:
    """What every task of a job needs beyond its numbers, written once by the client."""

    root: str  # the shard root as the workers see it (a folder or a URL)
    shards: list[ShardInfo]
    index_version: str | None
    spec: BatchSpec
    cal: Calibration
    freqs: NameFrequencies


@dataclass
class Probe:
    rows: FaceRows
    sizes: dict[tuple[str, str], int]
    regional: set[int]  # residents whose demographic block has records of the region here
    seconds: float = 0.0  # in the worker, loading the shard included
    load_s: float = 0.0  # of which loading the shard (0: it was loaded)


@dataclass
class Note:
    """What a shard's ranking of one resident says about the bound."""

    n: int
    top_ub: np.ndarray
    top_key: np.ndarray
    best: list[float]  # the shard's top k exact weights


@dataclass
class Head:
    """A shard's head round for a batch: per resident, its bound note and (exact weight, place among the
    non-registry candidates; -1: registry) of each candidate compared in full."""

    notes: dict[int, Note]
    scored: dict[int, list[tuple[float, int]]]
    seconds: float = 0.0
    load_s: float = 0.0


# a candidate a shortlist may need: (record id, exact weight, registry, sources, its place in the shard's
# upper-bound order among the non-registry candidates; -1: a registry entry, in every prefix)
Short = tuple[int, float, bool, str, int]


@dataclass
class ShardRanked:
    short: dict[int, list[Short]]  # resident -> what the shortlist of any prefix needs (prefix_entries)
    notes: dict[int, Note]
    scored: int
    seconds: float = 0.0
    load_s: float = 0.0
    reranked: bool = False  # the head's rankings were not here: ranked again


@dataclass
class Explained:
    rows: dict[int, list[tuple]]  # resident -> (record id, weight, probability, registry, terms) per candidate
    seconds: float = 0.0
    load_s: float = 0.0


# -- the worker's side --------------------------------------------------------------------------------
_LOCK = threading.Lock()
_SHARDS: dict[tuple, LoadedShard] = {}
_JOBS: dict[str, JobFiles] = {}


def _job(job_dir: str) -> JobFiles:
    with _LOCK:
        if job_dir not in _JOBS:
            _JOBS.clear()  # one job at a time per worker: the last one's files are gone
            _JOBS[job_dir] = _read(job_dir, "job.pkl")
        return _JOBS[job_dir]


def _shard(job: JobFiles, k: int) -> tuple[LoadedShard, float]:
    """Shard k as this job needs it (loaded once per worker; an older version of it is dropped), and the
    seconds loading it took here (0: it was loaded already)."""
    info = job.shards[k]
    key = (job.root, info.name, info.version, job.spec.key, job.index_version)
    with _LOCK:
        if key in _SHARDS:
            return _SHARDS[key], 0.0
        for old in [c for c in _SHARDS if c[:2] == key[:2]]:
            del _SHARDS[old]
        import faiss

        faiss.omp_set_num_threads(1)  # one thread per task: the worker has its own cores
        heap_for_temporaries()
        t0 = time.perf_counter()
        _SHARDS[key] = load_shard(ShardRoot(job.root), info, job.spec.key, job.index_version)
        # the shard's millions of objects live as long as the worker holds it: out of the collector's full
        # passes (as runner.pooled freezes what its forked workers inherit); they are freed by reference
        # count when the shard is dropped
        gc.collect()
        gc.freeze()
        # and fewer young collections: a task allocates millions of short-lived objects, and each full
        # collection walks every ranking still held for the rank round (measured: 2.3 s per 55 s of tasks)
        gc.set_threshold(*WORKER_GC)
        return _SHARDS[key], time.perf_counter() - t0


def _read(job_dir: str, name: str) -> object:
    return pickle.loads(read_location(f"{job_dir}/{name}"))  # written by the client of this workspace


WORKER_GC = (20_000, 20, 20)  # gc thresholds in a worker that holds a shard (Python's default: 700, 10, 10)

# glibc's mallopt parameters, and what a worker sets them to: arrays of up to 32 MiB from the heap, and up to
# 64 MiB of free heap kept instead of returned to the system
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
HEAP_SETTINGS = {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 64 << 20}


def heap_for_temporaries() -> bool:
    """Let this worker's numpy temporaries come from the heap (glibc only; whether it was set).

    A Dask nanny starts its worker with MALLOC_TRIM_THRESHOLD_=65536 (distributed.nanny.pre-spawn-environ,
    to hand freed memory back to the system). Setting it also turns off glibc's sliding mmap threshold, so
    every array over 128 KiB is a fresh mmap, freed with munmap: the head round's upper-bound arrays of
    thousands of candidates, per resident, then cost page faults on every touch (measured, 2,000 residents
    x 10^6 on 2 workers: 6.2 million minor faults, 0.45 million with this, 0.97 million in the local job's
    processes, which keep glibc's defaults). Set here, in the worker, it holds however the worker started."""
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return all(libc.mallopt(ctypes.c_int(p), ctypes.c_int(v)) == 1 for p, v in HEAP_SETTINGS.items())
    except (OSError, AttributeError):
        return False


def _people(job_dir: str, batch: int) -> dict[int, ResidentView]:
    return _read(job_dir, f"batch-{batch}.pkl")


def hold_task(job_dir: str, k: int) -> float:
    """Load shard k on this worker; the seconds it took. Every other task of shard k depends on this one and
    runs where it ran (a dependency); if that worker is lost, Dask runs it again elsewhere and they follow.
    (Worker restrictions would do the first but not the second: a task restricted to a lost worker waits
    for that address forever, dask/distributed#7346, and a loose one too when no worker runs at the time.)"""
    return _shard(_job(job_dir), k)[1]


def holds(workers: int, shards: int) -> list[int]:
    """How many workers load each shard: every worker one shard where there are at least as many workers as
    shards (a shard's batches go in turn to its workers), else each worker several. One hold per shard on a
    large cluster would leave most workers idle; a shard on every worker multiplies its memory."""
    return [max(1, len(range(k, workers, shards))) for k in range(shards)]


def on_shard(held: float, fn: Callable, *args: object, after: object = None) -> object:
    """Run fn where its shard is held (`held` is hold_task's result, `after` another task's it should follow:
    the dependencies are the point)."""
    return fn(*args)


def probe_task(job_dir: str, batch: int, k: int) -> Probe:
    """Round 1 in shard k: raw face rows, name block sizes, regional demographic flags."""
    t0 = time.perf_counter()
    job, people = _job(job_dir), list(_people(job_dir, batch).values())
    shard, load_s = _shard(job, k)
    blocks = shard.blocks
    sizes: dict[tuple[str, str], int] = {}
    for r in people:
        sizes.update(name_block_sizes(r.names, blocks))
    regional = {r.id for r in people if regional_demographic(r, blocks)}
    return Probe(face_rows(people, blocks), sizes, regional, time.perf_counter() - t0, load_s)


class ShardSide(PrunedResidentSide):
    """The pruned search over one shard, with what the client merged from every shard."""

    def __init__(self, ctx: BatchContext, hits: dict[int, FaceHits], hints: dict[int, ShardHints]) -> None:
        super().__init__(ctx)
        self.hits, self.hints = hits, hints

    def found(self, r: ResidentView, faces: FaceHits) -> Found:
        return candidates_for_resident(r, self.ctx.blocks["resident"], None, faces, self.hints.get(r.id, ShardHints()))

    def registry(self, ids: list[int]) -> list[int]:
        """Which of these candidates are registry entries."""
        table = self.ctx.table
        return [c for c, g in zip(ids, table.registry[table.positions(ids)], strict=True) if g] if ids else []

    def heads(self, people: dict[int, ResidentView]) -> dict[int, tuple[Found, Ranking]]:
        """Each resident's candidates in this shard in upper-bound order, the registry entries and the first
        top k of the others compared in full (the head round)."""
        out = {}
        for i, r in people.items():
            f = self.found(r, self.hits.get(i, FaceHits()))
            ranking = self.prepare(r, f, f.keys)
            self.advance(r, ranking, pause=self.ctx.spec.top_k)
            ranking.compact()
            out[i] = (replace(f, ids=[], keys=None), ranking)  # what the rank round reads: the sources
        return out


_NONE, _NONE_KEYS = np.zeros(0), np.zeros(0, dtype=np.int64)


def _note(out: Ranked) -> Note:
    return Note(
        out.n,
        out.top_ub if out.top_ub is not None else _NONE,
        out.top_key if out.top_key is not None else _NONE_KEYS,
        out.best,
    )


def _context(job: JobFiles, shard: LoadedShard) -> BatchContext:
    params = Params.from_json(job.spec.params)
    return BatchContext(
        job.spec,
        shard.store,
        {"resident": shard.blocks},
        job.cal,
        params,
        job.freqs,
        shard.table,
        Weights(params, job.freqs),
        shard.how,
    )


# a worker's rankings between the head and rank rounds: (job folder, batch, shard) -> resident -> ranking; a
# rank task that finds none (another worker, or evicted) ranks the head again, to the same result
_RANKINGS: OrderedDict[tuple[str, int, int], dict[int, tuple[Found, Ranking]]] = OrderedDict()
KEEP_RANKINGS = 24  # (batch, shard) rankings: each at most 200 residents x (bound + registry) candidates


def _side(job_dir: str, batch: int, job: JobFiles, shard: LoadedShard) -> ShardSide:
    hits, hints = _read(job_dir, f"hints-{batch}.pkl")
    return ShardSide(_context(job, shard), hits, hints)


def head_task(job_dir: str, batch: int, k: int) -> Head:
    """Round 3 in shard k: the batch's candidates in upper-bound order, the registry entries and the first top
    k of the others compared in full; their weights and the bound notes. The client makes a floor of them
    for every shard's rank round (head_floors); the rankings stay here for it."""
    t0 = time.perf_counter()
    job = _job(job_dir)
    shard, load_s = _shard(job, k)
    heads = _side(job_dir, batch, job, shard).heads(_people(job_dir, batch))
    with _LOCK:
        _RANKINGS[(job_dir, batch, k)] = heads
        while len(_RANKINGS) > KEEP_RANKINGS:
            _RANKINGS.popitem(last=False)
    return Head(
        {i: _note(ranking.out) for i, (_f, ranking) in heads.items()},
        {i: ranking.head() for i, (_f, ranking) in heads.items()},
        time.perf_counter() - t0,
        load_s,
    )


def rank_task(job_dir: str, batch: int, k: int, floors: dict[int, float]) -> ShardRanked:
    """Round 4 in shard k: the rest of the pruned search, with each resident's floor (a lower bound of its
    k-th best weight over all shards: a candidate whose upper bound is below it cannot reach the top k);
    what the shortlist of any prefix of the shard's upper-bound order needs (the bound over all shards keeps a
    prefix), and the bound notes. Nothing is explained yet: only the shortlist over all shards is."""
    t0 = time.perf_counter()
    job = _job(job_dir)
    shard, load_s = _shard(job, k)
    spec = job.spec
    people = _people(job_dir, batch)
    side = _side(job_dir, batch, job, shard)
    with _LOCK:
        heads = _RANKINGS.pop((job_dir, batch, k), None)
    reranked = heads is None
    if heads is None:
        heads = side.heads(people)
    short: dict[int, list[Short]] = {}
    notes: dict[int, Note] = {}
    scored = 0
    for i, (f, ranking) in heads.items():
        side.advance(people[i], ranking, floor=floors.get(i, -np.inf))
        out = topk_ranked(ranking, spec.top_k, spec.min_weight, shard=True)
        # the upper bounds and keys went to the client with the head: only the count and the top k weights
        notes[i] = Note(out.n, _NONE, _NONE_KEYS, out.best)
        scored += len(out.weights)
        registry = set(side.registry(list(out.weights)))
        entries = prefix_entries([(c, w, c in registry) for c, w in out.weights.items()], spec.top_k)
        short[i] = [(c, w, reg, ",".join(sorted(f.sources(c))), pos) for c, w, reg, pos in entries]
    return ShardRanked(short, notes, scored, time.perf_counter() - t0, load_s, reranked)


def prefix_entries(weights: list[tuple[int, float, bool]], top_k: int) -> list[tuple[int, float, bool, int]]:
    """Of (id, exact weight, registry entry) in scoring order (registry entries, then the others by upper
    bound), what runner.shortlist and the top k weights of every prefix of the others need, with each one's
    place among the others (-1: registry). The bound over all shards keeps a prefix of each shard's order, and
    the pruned search over a prefix scores a prefix of what it scores over the whole (topk.rank_candidates:
    the same chunks, the same heap), so the client cuts these instead of asking the shard to rank again. Left
    out: a candidate with top_k others before it that weigh more than it by over runner.TIE; in every prefix
    they keep it out of the top k and of the shortlist's ties."""
    out: list[tuple[int, float, bool, int]] = []
    before: list[float] = []  # the top_k heaviest non-registry candidates so far (a min-heap)
    pos = 0
    for c, w, reg in weights:
        if reg:
            out.append((c, w, True, -1))
            continue
        if len(before) < top_k or before[0] <= w + TIE:
            out.append((c, w, False, pos))
        if len(before) < top_k:
            heapq.heappush(before, w)
        elif w > before[0]:
            heapq.heapreplace(before, w)
        pos += 1
    return out


def cut_entries(entries: list[Short], kept: int | None) -> list[Short]:
    """A shard's entries for a resident as if the shard had ranked only the first `kept` of its order (None:
    all of them)."""
    return entries if kept is None else [e for e in entries if e[4] < kept]


def explain_task(job_dir: str, batch: int, k: int, wanted: dict[int, list[int]]) -> Explained:
    """Round 5 in shard k: the candidates of the shortlist over all shards that are this shard's, compared in
    full (their exact weights and every term's text)."""
    t0 = time.perf_counter()
    job = _job(job_dir)
    shard, load_s = _shard(job, k)
    people = _people(job_dir, batch)
    side = PrunedResidentSide(_context(job, shard))
    rows = {}
    for i, ids in wanted.items():
        scored = side.explain(people[i], ids, lambda _m: set())
        rows[i] = [
            (x.m.id, x.score.weight, x.score.probability, int(x.m.kind != "missing"), x.score.terms_json())
            for x in scored
        ]
    return Explained(rows, time.perf_counter() - t0, load_s)


# -- the client's side --------------------------------------------------------------------------------
Limit = tuple[float, int]  # (upper bound, order key) of the last candidate the bound keeps over all shards
ROUNDS = ("probe", "head", "rank", "explain")


def _merge_probes(people: list[ResidentView], probes: list[Probe]) -> tuple[dict, dict]:
    """Face hits of one search over all shards, and each resident's hints."""
    hits = hits_from_rows(people, merge_face_rows([p.rows for p in probes]))
    sizes: dict[tuple[str, str], int] = {}
    for p in probes:
        for key, n in p.sizes.items():
            sizes[key] = sizes.get(key, 0) + n
    skip = frozenset(key for key, n in sizes.items() if n > MAX_NAME_BLOCK)
    regional = set().union(*(p.regional for p in probes)) if probes else set()
    hints = {r.id: ShardHints(skip, r.id in regional) for r in people}
    return hits, hints


@dataclass
class Cut:
    """Where the bound over all shards cuts a resident's candidates."""

    kept: dict[int, int] | None  # per shard, how many of its order the bound keeps (None: it cuts nothing)
    after: float = -np.inf  # the upper bound of the first candidate it leaves out


def bound_cuts(notes: dict[int, dict[int, Note]], bound: int) -> dict[int, Cut]:
    """Per resident (of shard -> resident -> its bound note from the head round), where the bound over all
    shards cuts: computed once per batch, the floors and the cut after the rank round both read it."""
    cuts = {}
    for i in sorted(set().union(*notes.values())):
        mine = {k: by[i] for k, by in notes.items() if i in by}
        limit, after = _limit(list(mine.values()), bound)
        cuts[i] = Cut(None if limit is None else {k: _kept(note, limit) for k, note in mine.items()}, after)
    return cuts


def head_floors(heads: dict[int, Head], bound: int, top_k: int, cuts: dict[int, Cut] | None = None) -> dict[int, float]:
    """Per resident, a lower bound of its k-th best exact weight over all shards: the k-th best of what the
    shards compared in their heads, of the candidates the bound over all shards keeps (registry entries
    always). The k-th best of some of the candidates is at most the k-th best of all of them, so a shard may
    leave out every candidate whose upper bound is below it: the top k is the same."""
    floors: dict[int, float] = {}
    if top_k <= 0:
        return floors
    cuts = cuts if cuts is not None else bound_cuts({k: h.notes for k, h in heads.items()}, bound)
    for i, cut in cuts.items():
        weights = []
        for k, head in heads.items():
            if i in head.notes:
                kept = cut.kept[k] if cut.kept is not None else head.notes[i].n
                weights += [w for w, place in head.scored[i] if place < kept]
        if len(weights) >= top_k:
            floors[i] = heapq.nlargest(top_k, weights)[-1]
    return floors


def _limit(notes: list[Note], bound: int) -> tuple[Limit | None, float]:
    """The (upper bound, key) of the last candidate the bound keeps over all shards (None: no cut), and the
    upper bound of the first one it leaves out. A selection, not a sort: the client does this for every
    resident of every batch, over up to bound + 1 candidates per shard."""
    if sum(n.n for n in notes) <= bound:
        return None, -np.inf
    ub = np.concatenate([n.top_ub for n in notes])
    key = np.concatenate([n.top_key for n in notes])
    v = float(np.partition(ub, len(ub) - bound)[len(ub) - bound])  # the bound-th largest upper bound
    need = bound - int((ub > v).sum())  # of the candidates at v, the bound keeps this many (by key)
    ties = np.sort(key[ub == v])
    last = (v, int(ties[need - 1]))
    below = ub[ub < v]
    after = v if len(ties) > need else (float(below.max()) if len(below) else -np.inf)
    return last, after


def _kept(note: Note, limit: Limit) -> int:
    return int(((note.top_ub > limit[0]) | ((note.top_ub == limit[0]) & (note.top_key <= limit[1]))).sum())


def _rows_key(row: tuple) -> tuple:
    weight, registry, missing_id = row[4], row[6], row[1]
    return (-(bool(registry) and weight >= ALERT_WEIGHT), -weight, missing_id)


def _top_rows(rows: list[tuple], top_k: int) -> list[tuple]:
    """A resident's rows to store: the top k of its explained shortlist, ranked (as BatchContext.score)."""
    rows = sorted(rows, key=_rows_key)[:top_k]
    return [(*row[:3], rank, *row[4:]) for rank, row in enumerate(rows, start=1)]


# A LocalCluster's settings. No work stealing: a task taken by a worker that does not hold its shard would load
# the shard again. No statistical profiler (it samples the task thread every 10 ms, for a dashboard nobody
# opens here) and a slower event-loop tick: on a machine whose cores the workers share with this process, each
# wake-up takes the GIL from a task. (The nanny's malloc setting is undone in the worker, however it was
# started: heap_for_temporaries.)
LOCAL_CLUSTER_CONFIG = {
    "distributed.scheduler.work-stealing": False,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
}


@contextlib.contextmanager
def _client(options: EngineOptions) -> Iterator:
    """A client of the given scheduler, or of a LocalCluster of `workers` one-thread workers."""
    from distributed import Client, LocalCluster

    if options.scheduler:
        try:
            client = Client(options.scheduler, timeout=30)
        except (OSError, TimeoutError) as e:
            raise EngineError(
                _("cannot reach the Dask scheduler at {address}: {error}").format(address=options.scheduler, error=e)
            ) from None
        with client:
            yield client
        return
    import dask

    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with (
        dask.config.set(LOCAL_CLUSTER_CONFIG),
        LocalCluster(
            n_workers=options.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # no fixed port: several clusters may run on one machine
            scheduler_kwargs={"dashboard": False},
            silence_logs=logging.ERROR,
            env=env,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextlib.contextmanager
def mapper(options: EngineOptions, ahead: int = 3) -> Iterator[Callable[[Callable, list], Iterator]]:
    """A map over the cluster for text keys and ingest (textkeys.Mapper): each chunk a task, results as they
    finish; this process stays the only writer. A chunk holds the names, place fields or rows it parses,
    nothing else. At most `ahead` chunks per worker thread are out at once, the next sent as each result is
    taken: a writer slower than the workers does not leave the whole file parsed in their memory."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    with _client(options) as client:

        def run(fn: Callable, chunks: list) -> Iterator:
            window = max(2, ahead * sum(client.nthreads().values()))
            todo = iter(chunks)
            running = as_completed([client.submit(fn, c, pure=False, retries=2) for c in islice(todo, window)])
            try:
                for f in running:
                    value = f.result()
                    f.release()
                    for c in islice(todo, 1):
                        running.add(client.submit(fn, c, pure=False, retries=2))
                    yield value
            except KilledWorker as e:
                raise EngineError(
                    _("a Dask worker died running task {task} too many times: nothing was written").format(
                        task=getattr(e, "task", e)
                    )
                ) from None

        yield run


def run_sharded(
    store: Store,
    spec: BatchSpec,
    batches: list[tuple[str, list[int]]],
    result: JobResult,
    options: EngineOptions,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Run a job's batches on a Dask cluster; rows stored by this process as each batch is merged."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    t0 = time.perf_counter()
    root = ShardRoot(options.shards or default_root(store))
    synced = sync(store, root, spec.key, options.shard_size)
    man: Manifest = synced.manifest
    result.missing_side = f"shards {synced.how} ({synced.changed} records, {len(man.shards)} shards)"
    result.timings["shards_s"] = round(time.perf_counter() - t0, 3)
    job_dir = f"jobs/{result.job_id}-{secrets.token_hex(4)}"
    root.makedirs(job_dir)
    try:
        cal = workspace_calibration(spec.root)
        _dump(
            root,
            f"{job_dir}/job.pkl",
            JobFiles(root.url, man.shards, man.index_version, spec, cal, NameFrequencies.from_store(store)),
        )
        rounds = _Rounds(store, spec, result, root, job_dir, man, on_progress)
        for n, batch in enumerate(b for d, b in batches if d == "resident"):
            rounds.people.append(load_residents(store, batch, spec.key))
            rounds.stats.batch_bytes += _dump(root, f"{job_dir}/batch-{n}.pkl", rounds.people[-1])
        with _client(options) as client:
            try:
                rounds.run(client, [b for d, b in batches if d == "missing"], options)
            except KilledWorker as e:
                raise EngineError(
                    _(
                        "a Dask worker died running task {task} too many times: the job failed and the shortlist"
                        " is as it was"
                    ).format(task=getattr(e, "task", e))
                ) from None
            except FutureCancelledError as e:
                raise EngineError(_("the Dask cluster cancelled the job: {error}").format(error=e)) from None
            with contextlib.suppress(Exception):  # a figure, not the job's business
                rounds.stats.worker_peak_mb = max(client.run(_peak_rss_mb).values(), default=0)
            figures = rounds.stats.figures(len(man.shards), len(client.scheduler_info()["workers"]))
            result.engine = {**figures, "sync": synced.how, "synced": synced.changed}
    finally:
        root.remove(job_dir)
    result.timings["engine_s"] = round(time.perf_counter() - t0, 3)


class _Rounds:
    """The client's side of a job's rounds: it submits each batch's tasks as the round before finishes, merges
    their results and stores each batch's rows (the only writer)."""

    def __init__(
        self,
        store: Store,
        spec: BatchSpec,
        result: JobResult,
        root: ShardRoot,
        job_dir: str,
        man: Manifest,
        on_progress: Callable[[int, int], None] | None,
    ) -> None:
        self.store, self.spec, self.result, self.man = store, spec, result, man
        self.root, self.job_dir = root, job_dir  # the job's folder under the root
        self.job_at = root.location(job_dir)  # ... as the tasks read it
        self.shards = len(man.shards)
        self.on_progress = on_progress
        self.people: list[dict[int, ResidentView]] = []  # per resident batch
        self.stats = Stats()
        self.done = 0
        self.probes: dict[int, dict[int, Probe]] = {}  # batch -> shard -> its probe
        self.heads: dict[int, dict[int, Head]] = {}
        self.head_futures: dict[tuple[int, int], object] = {}  # (batch, shard) -> its head task, until ranked
        self.cuts: dict[int, dict[int, Cut]] = {}  # batch -> resident -> where the bound over all shards cuts
        self.ranks: dict[int, dict[int, ShardRanked]] = {}
        self.meta: dict[str, tuple[str, int, int]] = {}  # task key -> (round, batch, shard)
        self.explaining: dict[int, int] = {}  # batch -> its explain tasks still running
        self.probed: deque[int] = deque()  # batches probed, waiting for their head round
        self.heading: set[int] = set()  # batches between head and rank
        self.explained: dict[int, dict[int, list[tuple]]] = {}  # batch -> resident -> rows
        self.sources: dict[int, dict[tuple[int, int], str]] = {}  # batch -> (resident, record) -> blocks found it

    def run(self, client, missing_batches: list[list[int]], options: EngineOptions) -> None:
        from distributed import wait

        self.client, self.pending = client, set()
        token = secrets.token_hex(3)
        # a shard's holds: as many as holds() gives it; the scheduler spreads tasks without
        # dependencies over the idle workers, and every other task depends on one hold, so it runs where that
        # hold ran and the shard is loaded. (Worker restrictions, even loose ones, would pin a hold to an
        # address: one whose worker is gone when no other runs waits for that address forever.)
        self.held = {
            k: [
                client.submit(hold_task, self.job_at, k, pure=False, retries=2, key=f"hold-s{k}-w{j}-{token}")
                for j in range(n)
            ]
            for k, n in enumerate(holds(len(client.scheduler_info()["workers"]), self.shards))
        }
        self.holds = [f for fs in self.held.values() for f in fs]
        for n in range(len(self.people)):
            for k in range(self.shards):
                self._submit("probe", probe_task, n, k)
        # the reverse direction (records against residents) needs the workspace: run here meanwhile
        if missing_batches:
            ctx = BatchContext.build(self.spec, self.store, {"missing"})
            for batch in missing_batches:
                out = ctx.score("missing", batch)
                _store(self.store, self.result, out.rows, out.scored, out.bound_hits, out.bound_limited)
                self._progress(len(batch))
        while self.pending:
            try:
                done = wait(list(self.pending), timeout=options.stall_s, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                raise EngineError(
                    _(
                        "no task of the job finished in {seconds:.0f} s: the job failed and the shortlist is as it was"
                    ).format(seconds=options.stall_s)
                ) from None
            for f in sorted(done, key=lambda f: f.key):
                self.pending.discard(f)
                what, n, k = self.meta.pop(f.key)
                value = f.result()
                if what == "head":  # the shard's rank task follows it to its worker (see _head)
                    self.head_futures[(n, k)] = f
                else:
                    f.release()
                self.stats.took(what, value, k)
                t0 = time.perf_counter()
                if options.on_task is not None:
                    options.on_task(client)
                getattr(self, f"_{what}")(n, k, value)
                self.stats.merge_s += time.perf_counter() - t0
        loaded = client.gather(self.holds)
        self.stats.load_s += sum(loaded)
        self.stats.loads += sum(1 for s in loaded if s > 0)
        self.stats.spread = len(set().union(*client.who_has(self.holds).values()))
        client.cancel(self.holds)

    def _submit(self, what: str, fn: Callable, n: int, k: int, *extra: object, after: object = None) -> None:
        """A task of shard k, where one of its holds ran (batches in turn over the shard's holds); `after`:
        the head whose rankings it goes on with, so it runs where that head ran. The key's task group is the
        round of one batch ("probe_b3"): in a group of one round of every batch, with one hold task as its only
        dependency, the scheduler would take the tasks for root tasks and place them ignoring where the
        shard is loaded (Scheduler.is_rootish)."""
        key = f"{what}_b{n}-s{k}-{secrets.token_hex(3)}"
        held = self.held[k]
        f = self.client.submit(
            on_shard,
            held[n % len(held)],
            fn,
            self.job_at,
            n,
            k,
            *extra,
            after=after,
            pure=False,
            retries=2,
            key=key,
            priority=ROUNDS.index(what),  # a batch's later rounds first: its rankings wait on the workers
        )
        self.meta[f.key] = (what, n, k)
        self.pending.add(f)

    def _probe(self, n: int, k: int, value: Probe) -> None:
        self.probes.setdefault(n, {})[k] = value
        if len(self.probes[n]) == self.shards:
            hits, hints = _merge_probes(list(self.people[n].values()), list(self.probes.pop(n).values()))
            _dump(self.root, f"{self.job_dir}/hints-{n}.pkl", (hits, hints))
            self.probed.append(n)
            self._start_heads()

    def _window(self) -> int:
        """How many batches may be between head and rank: a worker that holds m shards keeps m rankings per
        batch (where the holds are now: the scheduler spread them, and a lost worker's went elsewhere)."""
        where = self.client.who_has(self.holds)
        per: dict[str, int] = {}
        unplaced = 0
        for workers in where.values():
            if workers:
                per[workers[0]] = per.get(workers[0], 0) + 1
            else:
                unplaced += 1
        return max(2, KEEP_RANKINGS // (max(per.values(), default=0) + unplaced or 1))

    def _start_heads(self) -> None:
        """The head rounds of the probed batches, at most `window` batches between head and rank: a worker
        keeps each head's rankings until its rank task comes (KEEP_RANKINGS), so heads must not run ahead."""
        window = self._window() if self.probed else 0
        while self.probed and len(self.heading) < window:
            n = self.probed.popleft()
            self.heading.add(n)
            for k in range(self.shards):
                self._submit("head", head_task, n, k)

    def _head(self, n: int, k: int, value: Head) -> None:
        self.heads.setdefault(n, {})[k] = value
        if len(self.heads[n]) == self.shards:
            heads = self.heads.pop(n)
            self.cuts[n] = bound_cuts({kk: h.notes for kk, h in heads.items()}, self.spec.bound)
            floors = head_floors(heads, self.spec.bound, self.spec.top_k, self.cuts[n])
            for kk in range(self.shards):
                # where the head ran, which holds the rankings (a rank task elsewhere ranks the head again, to the
                # same result)
                self._submit("rank", rank_task, n, kk, floors, after=self.head_futures.pop((n, kk)))

    def _rank(self, n: int, k: int, value: ShardRanked) -> None:
        self.ranks.setdefault(n, {})[k] = value
        if len(self.ranks[n]) < self.shards:
            return
        self.heading.discard(n)
        self._start_heads()
        self.stats.cut += _cut(self.ranks[n], self.spec.bound, self.spec.top_k, self.cuts[n])
        self._explain_ranked(n)

    def _explain_ranked(self, n: int) -> None:
        """Once every shard ranked the batch: the shortlist over all shards, explained by the shards that hold
        its candidates (each candidate once, not each shard's top k)."""
        spec, wanted = self.spec, {}
        self.explained[n] = {i: [] for i in self.people[n]}
        sources = self.sources[n] = {}
        for i in self.people[n]:
            merged = [s for r in self.ranks[n].values() for s in r.short.get(i, [])]
            ids = shortlist([(c, w, reg) for c, w, reg, _, _ in merged], spec.top_k, spec.min_weight)
            sources.update({(i, c): src for c, _, _, src, _ in merged})
            for c, k in zip(ids, self.man.shard_of(np.array(ids, np.int64)).tolist(), strict=True):
                wanted.setdefault(k, {}).setdefault(i, []).append(c)
        self.explaining[n] = len(wanted)
        for k, ask in wanted.items():
            self._submit("explain", explain_task, n, k, ask)
        self._finish_if_explained(n)

    def _explain(self, n: int, k: int, value: Explained) -> None:
        src = self.sources[n]
        for i, rows in value.rows.items():
            self.explained[n][i] += [
                (i, c, "resident", 0, w, p, reg, src[(i, c)], terms)
                for c, w, p, reg, terms in rows
                if self.spec.min_weight is None or w >= self.spec.min_weight
            ]
        self.explaining[n] -= 1
        self._finish_if_explained(n)

    def _finish_if_explained(self, n: int) -> None:
        if self.explaining.get(n) != 0:
            return
        del self.explaining[n]
        ranked = self.ranks.pop(n)
        self.stats.totals(ranked)
        t0 = time.perf_counter()
        _finish_batch(self.store, self.result, self.spec, self.explained.pop(n), ranked, self.cuts.pop(n))
        self.stats.store_s += time.perf_counter() - t0
        del self.sources[n]
        self.stats.tasks["batches"] += 1
        self._progress(len(self.people[n]))
        self.people[n] = {}

    def _progress(self, n: int) -> None:
        self.done += n
        if self.on_progress:
            self.on_progress(self.done, self.result.residents + self.result.missing)


def _cut(ranked: dict[int, ShardRanked], bound: int, top_k: int, cuts: dict[int, Cut]) -> int:
    """Where the bound cuts over all shards and a shard's own cut kept more: that shard's entries cut to
    what the bound keeps of it (cut_entries), and its top k weights with them. How many were cut."""
    cut = 0
    for i, where in cuts.items():
        if where.kept is None:
            continue
        for k, r in ranked.items():
            if i not in r.notes or k not in where.kept:
                continue
            note, kept = r.notes[i], where.kept[k]
            if kept != min(note.n, bound):
                entries = ranked[k].short[i] = cut_entries(ranked[k].short.get(i, []), kept)
                note.best = heapq.nlargest(top_k, (e[1] for e in entries))
                cut += 1
    return cut


def _finish_batch(
    store: Store,
    result: JobResult,
    spec: BatchSpec,
    explained: dict[int, list[tuple]],
    ranked: dict[int, ShardRanked],
    cuts: dict[int, Cut],
) -> None:
    rows: list[tuple] = []
    hits = limited = 0
    for i, mine in explained.items():
        rows += _top_rows(mine, spec.top_k)
        cut_best = cuts[i].after if i in cuts else -np.inf
        if cut_best > -np.inf:  # the bound cut over all shards: could it have changed the top k?
            hits += 1
            best = sorted((w for r in ranked.values() if i in r.notes for w in r.notes[i].best), reverse=True)
            kth = best[spec.top_k - 1] if len(best) >= spec.top_k else -np.inf
            if cut_best >= kth and (spec.min_weight is None or cut_best >= spec.min_weight):
                limited += 1
    _store(store, result, rows, sum(r.scored for r in ranked.values()), hits, limited)


def _store(store: Store, result: JobResult, rows: list[tuple], scored: int, hits: int, limited: int) -> None:
    result.candidates_scored += scored
    result.bound_hits += hits
    result.bound_limited += limited
    store_candidates(store, result.job_id, rows)
    result.stored += len(rows)


def _dump(root: ShardRoot, name: str, value: object) -> int:
    """A job file, written whole (temporary name + rename) and private to the workspace owner; its size."""
    return root.write_bytes(name, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def _result_bytes(value: Probe | Head | ShardRanked | Explained) -> int:
    """About what a task's result takes on the wire, counted by its structure (arrays by their size, 8 bytes
    a number, text by its length). Walking every object of every result (_nbytes) cost the client 3 s of
    CPU per 2,000 residents at 10^6, on cores it shares with the workers on a small cluster."""
    if isinstance(value, Head):
        return _notes_bytes(value.notes) + sum(8 + 16 * len(s) for s in value.scored.values())
    if isinstance(value, ShardRanked):
        short = sum(8 + sum(40 + len(e[3]) for e in s) for s in value.short.values())
        return _notes_bytes(value.notes) + short
    if isinstance(value, Explained):
        return sum(8 + sum(40 + len(r[4]) for r in rows) for rows in value.rows.values())
    return _nbytes(value)  # a probe: a few face rows and block sizes


def _notes_bytes(notes: dict[int, Note]) -> int:
    return sum(24 + n.top_ub.nbytes + n.top_key.nbytes + 8 * len(n.best) for n in notes.values())


def _nbytes(value: object) -> int:
    """About what a value takes on the wire (arrays by their size, numbers 8 bytes, text by its length): a
    figure, not worth pickling every result a second time in the client."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, str | bytes):
        return len(value) + 8
    if isinstance(value, dict):
        return sum(_nbytes(k) + _nbytes(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return 8 + sum(_nbytes(v) for v in value)
    if hasattr(value, "__dict__"):
        return _nbytes(vars(value))
    return 8


def _peak_rss_mb() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


@dataclass
class Stats:
    """What the engine did: tasks and their worker-side seconds by round, shard loads, bytes of the results
    and job files, the client's merge time, candidates per resident over all shards (bench_national)."""

    tasks: dict = field(default_factory=lambda: {**dict.fromkeys(ROUNDS, 0), "batches": 0})
    seconds: dict = field(default_factory=lambda: dict.fromkeys(ROUNDS, 0.0))
    cut: int = 0  # (resident, shard) entries the client cut to the bound over all shards
    reranked: int = 0  # rank tasks that did not find their head's rankings and ranked the head again
    load_s: float = 0.0
    loads: int = 0  # shards loaded by a worker (a shard loaded by more workers than its holds: misplaced tasks)
    result_bytes: int = 0
    batch_bytes: int = 0
    merge_s: float = 0.0
    store_s: float = 0.0  # of merge_s, storing the batches' rows: once per batch, however many shards
    worker_peak_mb: int = 0
    spread: int = 0  # workers holding a shard at the end
    candidates: list[int] = field(default_factory=list)
    by_shard: dict[int, float] = field(default_factory=dict)  # task seconds per shard (how even the work is)

    def took(self, what: str, value: Probe | Head | ShardRanked | Explained, shard: int) -> None:
        working = value.seconds - value.load_s
        self.tasks[what] += 1
        self.seconds[what] += working
        self.by_shard[shard] = self.by_shard.get(shard, 0.0) + working
        self.load_s += value.load_s
        self.result_bytes += _result_bytes(value)
        self.loads += int(value.load_s > 0)
        self.reranked += int(getattr(value, "reranked", False))

    def totals(self, ranked: dict[int, ShardRanked]) -> None:
        per: dict[int, int] = {}
        for r in ranked.values():
            for i, note in r.notes.items():
                per[i] = per.get(i, 0) + note.n
        self.candidates += list(per.values())

    def figures(self, shards: int, workers: int) -> dict:
        c = np.array(self.candidates or [0])
        return {
            "shards": shards,
            "workers": workers,
            "tasks": self.tasks,
            "probe_task_s": round(self.seconds["probe"], 3),
            "head_task_s": round(self.seconds["head"], 3),
            "rank_task_s": round(self.seconds["rank"], 3),
            "cut_by_client": self.cut,
            "rank_tasks_ranking_again": self.reranked,
            "explain_task_s": round(self.seconds["explain"], 3),
            "load_s": round(self.load_s, 3),
            "shard_task_s": [round(self.by_shard.get(k, 0.0), 1) for k in range(shards)],
            "shard_loads": self.loads,
            "result_bytes": self.result_bytes,
            "batch_file_bytes": self.batch_bytes,
            "client_merge_s": round(self.merge_s, 3),
            "client_store_s": round(self.store_s, 3),
            "worker_peak_rss_mb": self.worker_peak_mb,
            "workers_holding_shards": self.spread,
            "candidates_per_resident": {q: int(np.percentile(c, q)) for q in (50, 90, 99)},
            "candidates_per_resident_sample": c[:: max(1, len(c) // 2000)].tolist(),
        }
