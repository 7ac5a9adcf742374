"""A suggestion, never applied by itself: k-means over the RFM features of a sample of one franchise's customers.

The sample (at most SAMPLE_SIZE scored customers) is drawn in SQL by a seeded hash of the customer id, so the
same data gives the same sample and, with k-means++ seeded too, the same clusters on every reload. Features are
recency in days (from last_shipment_at), log1p(frequency) and log1p(monetary), standardised; the logs keep a
few very large shippers from pulling every centre. Plain Python: 5,000 points x 8 centres is small."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import BigInteger, cast, literal, select

from core.clock import utcnow
from core.extensions import db
from plugins.tiering.models import CustomerValue

MIN_K, MAX_K, DEFAULT_K = 2, 8, 4
SAMPLE_SIZE = 5000
MIN_PER_CLUSTER = 5
MIN_SAMPLE = 20
SEED = 20240611
RESTARTS = 3  # k-means++ runs with different seeds; the tightest wins
MAX_ITERATIONS = 60
_HASH_MULTIPLIER = 2654435761  # Knuth's multiplicative hash: spreads consecutive ids over [0, 2^32)
_HASH_MODULUS = 4294967296


class ClusterInputError(ValueError):
    """Bad input for a clustering: names the field and says what is wrong, for the page to show."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


class NotEnoughCustomers(ClusterInputError):
    """The franchise has too few scored customers for k clusters: a state of the data, not a wrong input."""


@dataclass
class Point:
    customer_id: int
    frequency: int
    monetary: float
    recency_days: float
    r: int | None
    f: int | None
    m: int | None
    segment: str | None
    cluster: int = -1


@dataclass
class Cluster:
    index: int
    name: str
    size: int
    recency_days: float
    frequency: float
    monetary: float
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)  # "r"/"f"/"m": (low, high) score
    main_segment: str | None = None


@dataclass
class Clustering:
    k: int
    franchise_id: int
    sampled: int
    points: list[Point]
    clusters: list[Cluster]


def check_k(raw) -> int:
    try:
        k = int(raw) if raw not in (None, "") else DEFAULT_K
    except (TypeError, ValueError):
        raise ClusterInputError("k", _("a whole number from %(low)d to %(high)d", low=MIN_K, high=MAX_K)) from None
    if not MIN_K <= k <= MAX_K:
        raise ClusterInputError("k", _("choose from %(low)d to %(high)d clusters", low=MIN_K, high=MAX_K))
    return k


def sample(franchise_id: int, size: int = SAMPLE_SIZE, seed: int = SEED, now: datetime | None = None) -> list[Point]:
    """Up to `size` scored customers of the franchise, picked in the database by a seeded hash of their id."""
    now = now or utcnow()
    # in 64 bits: a 32-bit id times a 32-bit multiplier stays below 2^63 on PostgreSQL and SQLite alike
    pick = ((cast(CustomerValue.customer_id, BigInteger) * literal(_HASH_MULTIPLIER, BigInteger)
             + literal(seed, BigInteger)) % literal(_HASH_MODULUS, BigInteger))
    query = (select(CustomerValue.customer_id, CustomerValue.frequency, CustomerValue.monetary,
                    CustomerValue.last_shipment_at, CustomerValue.r_score, CustomerValue.f_score,
                    CustomerValue.m_score, CustomerValue.rfm_segment)
             .where(CustomerValue.franchise_id == franchise_id, CustomerValue.last_shipment_at.is_not(None),
                    CustomerValue.r_score.is_not(None))
             .order_by(pick, CustomerValue.customer_id).limit(size))
    return [Point(cid, int(freq or 0), float(monetary or 0), max((now - last).total_seconds() / 86400, 0.0),
                  r, f, m, segment)
            for cid, freq, monetary, last, r, f, m, segment in db.session.execute(query)]


def features(points: list[Point]) -> tuple[list[list[float]], list[float], list[float]]:
    """Standardised [recency, log1p(frequency), log1p(monetary)] rows, with the means and deviations used."""
    raw = [[p.recency_days, math.log1p(p.frequency), math.log1p(max(p.monetary, 0.0))] for p in points]
    count = len(raw)
    means = [sum(row[d] for row in raw) / count for d in range(3)]
    deviations = []
    for d in range(3):
        variance = sum((row[d] - means[d]) ** 2 for row in raw) / count
        deviations.append(math.sqrt(variance) or 1.0)  # a constant feature stays 0, not a division by zero
    return [[(row[d] - means[d]) / deviations[d] for d in range(3)] for row in raw], means, deviations


def _distance(a, b) -> float:
    # three features, unrolled: this is the inner loop of every iteration
    dx, dy, dz = a[0] - b[0], a[1] - b[1], a[2] - b[2]
    return dx * dx + dy * dy + dz * dz


def _nearest(row, centres) -> int:
    x, y, z = row
    best, best_distance = 0, math.inf
    for index, (cx, cy, cz) in enumerate(centres):
        distance = (x - cx) * (x - cx) + (y - cy) * (y - cy) + (z - cz) * (z - cz)
        if distance < best_distance:
            best, best_distance = index, distance
    return best


def _plus_plus(rows, k, rng) -> list[list[float]]:
    """k-means++: each next centre drawn with probability proportional to its squared distance to the nearest."""
    centres = [list(rows[rng.randrange(len(rows))])]
    nearest = [_distance(row, centres[0]) for row in rows]
    while len(centres) < k:
        total = sum(nearest)
        if total == 0:  # fewer distinct points than k: repeat one
            centres.append(list(rows[rng.randrange(len(rows))]))
            continue
        target, running, chosen = rng.random() * total, 0.0, len(rows) - 1
        for index, distance in enumerate(nearest):
            running += distance
            if running >= target:
                chosen = index
                break
        centres.append(list(rows[chosen]))
        nearest = [min(old, _distance(row, centres[-1])) for old, row in zip(nearest, rows)]
    return centres


def _lloyd(rows, centres) -> tuple[list[int], list[list[float]], float]:
    labels = [-1] * len(rows)
    for _round in range(MAX_ITERATIONS):
        changed = False
        for index, row in enumerate(rows):
            label = _nearest(row, centres)
            if label != labels[index]:
                labels[index], changed = label, True
        sums = [[0.0] * len(rows[0]) for _c in centres]
        sizes = [0] * len(centres)
        for row, label in zip(rows, labels):
            sizes[label] += 1
            for d, x in enumerate(row):
                sums[label][d] += x
        for c, size in enumerate(sizes):
            if size:
                centres[c] = [s / size for s in sums[c]]
            else:  # an empty cluster takes the point farthest from its centre
                far = max(range(len(rows)), key=lambda i: _distance(rows[i], centres[labels[i]]))
                centres[c], labels[far], changed = list(rows[far]), c, True
        if not changed:
            break
    inertia = sum(_distance(row, centres[label]) for row, label in zip(rows, labels))
    return labels, centres, inertia


def kmeans(rows: list[list[float]], k: int, seed: int = SEED) -> tuple[list[int], list[list[float]]]:
    """Labels and centres of the tightest of RESTARTS seeded k-means++ runs over rows of three features."""
    best = None
    for restart in range(RESTARTS):
        rng = random.Random(seed + restart)
        labels, centres, inertia = _lloyd(rows, _plus_plus(rows, k, rng))
        if best is None or inertia < best[2]:
            best = (labels, centres, inertia)
    return best[0], best[1]


def _central_range(scores: list[int], share: float = 0.9) -> tuple[int, int] | None:
    """The score range holding the middle `share` of a cluster's members (outliers left out)."""
    scores = sorted(s for s in scores if s is not None)
    if not scores:
        return None
    cut = (1 - share) / 2
    low = scores[int(cut * (len(scores) - 1))]
    high = scores[math.ceil((1 - cut) * (len(scores) - 1))]
    return int(low), int(high)


def _describe(points, labels, centres, means, deviations) -> list[Cluster]:
    clusters = []
    for index, centre in enumerate(centres):
        members = [p for p, label in zip(points, labels) if label == index]
        original = [centre[d] * deviations[d] + means[d] for d in range(3)]
        segments: dict[str, int] = {}
        for p in members:
            if p.segment:
                segments[p.segment] = segments.get(p.segment, 0) + 1
        ranges = {name: _central_range([getattr(p, name) for p in members]) for name in ("r", "f", "m")}
        clusters.append(Cluster(index, "", len(members), round(max(original[0], 0.0), 1),
                                round(math.expm1(original[1]), 1), round(math.expm1(original[2]), 2),
                                {k: v for k, v in ranges.items() if v is not None},
                                max(sorted(segments), key=segments.get) if segments else None))
    return clusters


def suggest(franchise_id: int, k, seed: int = SEED, now: datetime | None = None,
            size: int = SAMPLE_SIZE) -> Clustering:
    """Cluster a sample of the franchise's customers into k groups, biggest spenders first."""
    k = check_k(k)
    points = sample(franchise_id, size=size, seed=seed, now=now)
    needed = max(MIN_SAMPLE, MIN_PER_CLUSTER * k)
    if len(points) < needed:
        raise NotEnoughCustomers("franchise", _("%(found)d customers with RFM scores; at least %(needed)d are needed "
                                               "for %(k)d clusters", found=len(points), needed=needed, k=k))
    rows, means, deviations = features(points)
    labels, centres = kmeans(rows, k, seed)
    clusters = _describe(points, labels, centres, means, deviations)
    # number clusters by monetary centre, highest first, so "cluster 1" means the same thing on every run
    order = sorted(range(len(clusters)), key=lambda i: (-clusters[i].monetary, clusters[i].recency_days))
    renumber = {old: new for new, old in enumerate(order)}
    for point, label in zip(points, labels):
        point.cluster = renumber[label]
    clusters = [clusters[old] for old in order]
    for new, cluster in enumerate(clusters):
        cluster.index, cluster.name = new, _("Cluster %(n)d", n=new + 1)
    return Clustering(k, franchise_id, len(points), points, clusters)
