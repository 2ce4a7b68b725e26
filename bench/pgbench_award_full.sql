-- One award with every row the app's award writes, as raw SQL in an explicit transaction: the
-- activity, the partner's idempotency key (with a stored answer of a typical size), the posting,
-- its two entries, the expiry lot, the day's usage and the citizen's account. P2's yardstick
-- (pgbench_award_multi.sql) writes only the posting, its entries and the balance; this one is the
-- same work as an app award, committed one by one, so the batch's ratio over it shows what
-- batching itself gains. Same conventions as pgbench_award_multi.sql (each variable once per
-- statement; no colon in a literal or comment).
\set n random(1, :citizens)
BEGIN;
INSERT INTO activities (user_id, id, partner_id, external_id, scenario, family, status, region, occurred_at,
                        reported_at, carbon_g, points, bonus_points, methodology_id, measurements, breakdown)
VALUES (CAST(lpad(to_hex(CAST(:n AS integer)), 32, '0') AS uuid), gen_random_uuid(), CAST(lpad('beef', 32, '0') AS uuid),
        CAST(gen_random_uuid() AS text), 'travel.metro', 'travel', 'awarded', 'huangpu', now(), now(), 130, 1, 0,
        'pgbench', jsonb_build_object('mode', 'metro', 'distance_m', 4200, 'ended_at', CAST(now() AS text)),
        jsonb_build_object('methodology', 'pgbench', 'factor', jsonb_build_object('key', 'travel.metro', 'value', 31),
                           'quantity', jsonb_build_object('distance_m', 4200), 'caps', jsonb_build_array(),
                           'lines', jsonb_build_array(jsonb_build_object('scenario', 'travel.metro', 'carbon_g', 130))))
RETURNING id AS aid, user_id AS uid \gset
INSERT INTO activity_keys (partner_id, external_id, user_id, activity_id, request_hash, status_code, response)
VALUES (CAST(lpad('beef', 32, '0') AS uuid), CAST(gen_random_uuid() AS text), CAST(:uid AS uuid), CAST(:aid AS uuid),
        repeat('0', 64), 201, repeat('x', 600));
INSERT INTO postings (user_id, kind, posted_at, carbon_g, scenario, activity_id, created_by, digest)
VALUES (CAST(:uid AS uuid), 'award', now(), 130, 'travel.metro', CAST(:aid AS uuid), 'bench-pgbench', repeat('0', 64))
RETURNING id AS pid \gset
INSERT INTO entries (user_id, posting_id, leg, account, kind, points, carbon_g, posted_at)
SELECT x.uid, x.pid, l.leg, l.account, 'award', l.points, 0, now()
FROM (SELECT CAST(:uid AS uuid) AS uid, CAST(:pid AS bigint) AS pid) AS x,
     (VALUES (1, 'citizen', 1::bigint), (2, 'issuance.travel', -1::bigint)) AS l(leg, account, points);
INSERT INTO expiry_lots (user_id, posting_id, earned_at, expires_at, points, remaining)
VALUES (CAST(:uid AS uuid), CAST(:pid AS bigint), now(), now() + interval '1 year', 1, 1);
INSERT INTO daily_usage (user_id, day, family, points) VALUES (CAST(:uid AS uuid), current_date, 'travel', 1)
ON CONFLICT (user_id, day, family) DO UPDATE SET points = daily_usage.points + 1;
UPDATE citizen_accounts SET balance = balance + 1, version = version + 1, updated_at = now() WHERE user_id = CAST(:uid AS uuid);
END;
