"""PostgreSQL's path for a push: the whole batch in one statement, then the commit.

The portable path (`store.plan` + `store.apply`) takes five round trips per push; at a thousand pushes a
second with two sync workers the waits dominate. Here data-modifying CTEs find the shipments, refuse the
batch if a waybill belongs to another franchise (every write is gated on it), store the new events, move
the shipments' status, log the payload and park unknown waybills in the inbox, and return what Python must
still announce. Exceptions and deliveries (a few pushes in a hundred) then go through `store`'s shared code
in the same transaction. Behaviour is the portable path's; the tests run both.
"""

from __future__ import annotations

import json
import re

from psycopg.rows import namedtuple_row

from core.events import emit
from core.extensions import db
from core.models.statuses import EXCEPTION_STATUSES
from plugins.integrations.inbound.store import BATCHED, raise_for_events
from plugins.integrations.inbound.pushes import PushEvent

_PUSH_SQL = """
WITH ev AS (
    SELECT * FROM json_to_recordset(CAST(:events AS json))
        AS e(waybill_no text, at timestamp, status text, code text, txt text, place text, carrier text)
), matching AS (  -- an index scan on the waybills, whatever ev holds
    SELECT s.id, s.franchise_id, s.waybill_no, s.carrier, s.status
    FROM crm_shipment s WHERE s.waybill_no = ANY(CAST(:waybills AS text[]))
), hint AS (
    SELECT waybill_no, upper(max(carrier)) AS carrier FROM ev GROUP BY waybill_no
), own AS (  -- one waybill number under several carriers: the push's carrier decides
    SELECT DISTINCT ON (m.waybill_no) m.id, m.waybill_no, m.status
    FROM matching m LEFT JOIN hint h ON h.waybill_no = m.waybill_no
    WHERE m.franchise_id = :fid
    ORDER BY m.waybill_no, (upper(m.carrier) = h.carrier) DESC NULLS LAST, m.id
), alien AS (  -- waybills only another franchise has
    SELECT DISTINCT m.waybill_no FROM matching m
    WHERE m.franchise_id <> :fid AND NOT EXISTS (SELECT 1 FROM own o WHERE o.waybill_no = m.waybill_no)
), go AS (
    SELECT NOT EXISTS (SELECT 1 FROM alien) AS ok
), fresh AS (
    SELECT DISTINCT ON (o.id, e.at, e.code) o.id, e.at, e.status, e.code, e.txt, e.place
    FROM ev e JOIN own o ON o.waybill_no = e.waybill_no
    WHERE NOT EXISTS (SELECT 1 FROM crm_tracking_event t WHERE t.shipment_id = o.id
                      AND t.provider = :provider AND t.occurred_at = e.at AND t.raw_code = e.code)
), ins AS (
    INSERT INTO crm_tracking_event (franchise_id, shipment_id, occurred_at, status, provider, raw_code, raw_text,
                                    location, source, received_at)
    SELECT :fid, f.id, f.at, f.status, :provider, f.code, f.txt, f.place, :source, :now
    FROM fresh f WHERE (SELECT ok FROM go)
    ON CONFLICT DO NOTHING  -- a concurrent push stored it first
    RETURNING shipment_id AS id, occurred_at AS at, status, raw_text AS txt
), newest AS (
    SELECT DISTINCT ON (i.id) i.id, i.at, i.status FROM ins i ORDER BY i.id, i.at DESC
), moved AS (
    UPDATE crm_shipment s
    SET status = n.status, status_at = n.at,
        delivered_at = CASE WHEN n.status = 'DELIVERED' AND s.delivered_at IS NULL THEN n.at ELSE s.delivered_at END
    FROM newest n
    WHERE s.id = n.id AND (s.status_at IS NULL OR s.status_at <= n.at)
    RETURNING s.id, n.status, n.at
), counts AS (
    SELECT (SELECT count(*) FROM ins) AS new,
           (SELECT count(*) FROM ev e JOIN own o ON o.waybill_no = e.waybill_no) AS matched,
           (SELECT count(*) FROM ev e
            WHERE NOT EXISTS (SELECT 1 FROM matching m WHERE m.waybill_no = e.waybill_no)) AS unmatched
), logged AS (
    INSERT INTO integ_inbound_payload (franchise_id, provider, received_at, outcome, http_status, waybill_no,
        waybill_count, events_total, events_new, events_duplicate, events_unmatched, body_enc, body_bytes,
        signed_timestamp, signature, remote_addr, replay_of_id)
    SELECT :fid, :provider, :now,
           CASE WHEN c.new > 0 THEN 'accepted' WHEN c.unmatched > 0 THEN 'unmatched' ELSE 'duplicate' END,
           200, :first_waybill, :waybill_count, c.matched + c.unmatched, c.new, c.matched - c.new, c.unmatched,
           :body_enc, :body_bytes, :signed_timestamp, :signature, :remote_addr, :replay_of_id
    FROM counts c WHERE (SELECT ok FROM go)
    RETURNING id
), parked AS (
    INSERT INTO integ_unmatched_event (franchise_id, provider, carrier, waybill_no, occurred_at, status, raw_code,
                                       raw_text, location, received_at, payload_id)
    SELECT :fid, :provider, e.carrier, e.waybill_no, e.at, e.status, e.code, e.txt, e.place, :now,
           (SELECT id FROM logged)
    FROM ev e
    WHERE (SELECT ok FROM go) AND NOT EXISTS (SELECT 1 FROM matching m WHERE m.waybill_no = e.waybill_no)
    ON CONFLICT DO NOTHING
)
SELECT 'counts' AS kind, NULL::text AS waybill_no, NULL::text AS status, NULL::timestamp AS at,
       NULL::text AS before, NULL::int AS id, NULL::text AS txt, c.new, c.matched - c.new AS duplicate, c.unmatched
FROM counts c
UNION ALL SELECT 'alien', a.waybill_no, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM alien a
UNION ALL SELECT 'moved', o.waybill_no, m.status, m.at, o.status, m.id, NULL, NULL, NULL, NULL
FROM moved m JOIN own o ON o.id = m.id
UNION ALL SELECT 'exception', o.waybill_no, i.status, i.at, o.status, i.id, i.txt, NULL, NULL, NULL
FROM ins i JOIN own o ON o.id = i.id WHERE i.status = ANY(string_to_array(:exc, ','))
"""
EXCEPTION_LIST = ",".join(sorted(EXCEPTION_STATUSES))
# psycopg caches its parsing of statements up to 4 KB: comments and indentation go before it sees the text,
# and the driver runs it directly (SQLAlchemy's result set-up per call cost as much as the statement's send)
PUSH = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s",
              " ".join(line.split("--")[0].strip() for line in _PUSH_SQL.splitlines()))


def store(franchise_id: int, provider: str, events: list[PushEvent], log: dict, source: str) -> dict:
    """Store a push and log it in the current transaction (the caller commits).

    Returns {"foreign": [waybills]} when the batch must be refused (nothing was written), else the summary.
    """
    waybills = list(dict.fromkeys(e.waybill_no for e in events))
    params = {
        # one JSON text, not seven arrays: the driver dumps it in one go
        "events": json.dumps([{"waybill_no": e.waybill_no, "at": e.occurred_at.isoformat(), "status": e.status,
                               "code": e.raw_code, "txt": e.raw_text, "place": e.location, "carrier": e.carrier}
                              for e in events], ensure_ascii=False),
        "waybills": waybills, "fid": franchise_id, "provider": provider, "exc": EXCEPTION_LIST,
        "source": source, "now": log["received_at"], "first_waybill": (waybills or [None])[0],
        "waybill_count": len(waybills), **{key: log.get(key) for key in (
            "body_enc", "body_bytes", "signed_timestamp", "signature", "remote_addr", "replay_of_id")},
    }
    # the session's own connection, so the statement is part of its transaction
    with db.session.connection().connection.driver_connection.cursor(row_factory=namedtuple_row) as cursor:
        rows = cursor.execute(PUSH, params, prepare=True).fetchall()
    foreign = [r.waybill_no for r in rows if r.kind == "alien"]
    if foreign:
        return {"foreign": foreign}
    counts = next(r for r in rows if r.kind == "counts")
    moved = {r.id: r for r in rows if r.kind == "moved"}
    for row in moved.values():
        if row.status == "DELIVERED" and row.before != "DELIVERED":
            emit("shipment.delivered", franchise_id, {"shipment_id": row.id, "waybill_no": row.waybill_no,
                                                      "delivered_at": row.at.isoformat()}, batched=BATCHED)
    exceptions = [r for r in rows if r.kind == "exception"]
    if exceptions:
        delivered = {r.id for r in exceptions if (moved[r.id].status if r.id in moved else r.before) == "DELIVERED"}
        raise_for_events(franchise_id, provider, [
            (r.id, r.waybill_no, r.status, r.at, r.txt) for r in exceptions], delivered, log["received_at"])
    return {"accepted": counts.new, "duplicates": counts.duplicate, "unmatched": counts.unmatched}
