-- Holds the account while a held usage row for it is being inserted, as a
-- foreign key would: rating.keep_accounts_with_entries() waits for it.
SELECT FROM rating.accounts WHERE account_id = $1 FOR KEY SHARE
