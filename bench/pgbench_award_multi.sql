-- One award as raw SQL in an explicit transaction (quality.md's "pgbench, one award as raw SQL"
-- and P2's yardstick): BEGIN; posting; two entries; balance update; COMMIT: five round trips.
-- Same scratch database conventions as pgbench_award.sql (each variable appears once per
-- statement: pgbench's prepared mode makes every occurrence a parameter of its own; no colon may
-- appear in a literal or comment either, pgbench would take it for a variable).
\set n random(1, :citizens)
BEGIN;
INSERT INTO postings (user_id, kind, posted_at, carbon_g, memo, created_by, digest)
VALUES (CAST(lpad(to_hex(CAST(:n AS integer)), 32, '0') AS uuid), 'adjustment', now(), 0, 'pgbench', 'bench-pgbench',
        repeat('0', 64))
RETURNING id AS pid, user_id AS uid \gset
INSERT INTO entries (user_id, posting_id, leg, account, kind, points, carbon_g, posted_at)
SELECT x.uid, x.pid, l.leg, l.account, 'adjustment', l.points, 0, now()
FROM (SELECT CAST(:uid AS uuid) AS uid, CAST(:pid AS bigint) AS pid) AS x,
     (VALUES (1, 'citizen', 1::bigint), (2, 'adjustment', -1::bigint)) AS l(leg, account, points);
UPDATE citizen_accounts SET balance = balance + 1, updated_at = now() WHERE user_id = CAST(:uid AS uuid);
END;
