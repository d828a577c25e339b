-- Usage rows not charged exactly once: a rated row whose ledger entries do
-- not sum to minus its charge, or do not leave exactly one charge that no
-- reversal cancels; a held row with any entry. Written out independently of
-- rating.verify_usage, which the tests check. Shared by pgrx-tests/ and tests/.
SELECT count(*) FROM rating.usage u
 CROSS JOIN LATERAL (
       SELECT sum(l.amount) AS total,
              count(*) FILTER (WHERE l.kind = 'charge') - count(*) FILTER (WHERE l.kind = 'reversal') AS current
         FROM rating.ledger l WHERE l.account_id = u.account_id AND l.usage_id = u.usage_id) l
 WHERE CASE u.status WHEN 'rated' THEN l.total IS DISTINCT FROM -u.charge OR l.current <> 1
                     ELSE l.total IS NOT NULL END
