-- Whether moving the account's balance from $2 to $3 crosses one of its
-- alert thresholds, downwards or upwards: the test
-- rating.raise_spending_alerts() applies.
SELECT EXISTS (
    SELECT FROM rating.alert_thresholds t
     WHERE t.account_id = $1
       AND (($2 >= t.threshold AND $3 < t.threshold) OR ($2 < t.threshold AND $3 >= t.threshold)))
