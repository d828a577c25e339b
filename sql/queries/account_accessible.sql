-- May the session's role act on the account? (sql/tenancy.sql)
SELECT rating.account_accessible($1)
