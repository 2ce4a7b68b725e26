-- One award as ONE statement (a data-modifying CTE, one round trip), the shape
-- service/repositories/ledger.py sends: a posting, its two entries, the citizen's balance.
-- Run by `python -m bench pgbench` in a scratch database whose citizen number n has the user id
-- the uuid lpad(to_hex(n), 32, '0'), so no lookup is needed; the citizens variable is set with -D.
-- By hand: pgbench -n -M prepared -c 16 -j 2 -T 10 -D citizens=1000 -f bench/pgbench_award.sql DBURL
\set n random(1, :citizens)
WITH c AS (
    SELECT CAST(lpad(to_hex(CAST(:n AS integer)), 32, '0') AS uuid) AS uid
), p AS (
    INSERT INTO postings (user_id, kind, posted_at, carbon_g, memo, created_by, digest)
    SELECT c.uid, 'adjustment', now(), 0, 'pgbench', 'bench-pgbench', repeat('0', 64) FROM c
    RETURNING id, user_id
), e AS (
    INSERT INTO entries (user_id, posting_id, leg, account, kind, points, carbon_g, posted_at)
    SELECT p.user_id, p.id, l.leg, l.account, 'adjustment', l.points, 0, now()
    FROM p, (VALUES (1, 'citizen', 1::bigint), (2, 'adjustment', -1::bigint)) AS l(leg, account, points)
), a AS (
    UPDATE citizen_accounts SET balance = balance + 1, updated_at = now()
    WHERE user_id = (SELECT uid FROM c)
    RETURNING balance
)
SELECT p.id, a.balance FROM p, a;
