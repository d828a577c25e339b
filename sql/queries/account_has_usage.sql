-- Any usage row of account $1.
SELECT FROM rating.usage u WHERE u.account_id = $1
