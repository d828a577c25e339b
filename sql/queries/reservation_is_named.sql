-- Any usage row of account $1 that names its reservation $2.
SELECT FROM rating.usage u WHERE u.account_id = $1 AND u.reservation_id = $2
