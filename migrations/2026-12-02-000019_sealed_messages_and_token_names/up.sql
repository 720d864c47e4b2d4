-- Why a run failed and an API token's name are sealed under the account's
-- subject key (they may quote a customer's column, table, host or
-- database error; a name is what the customer typed). Rows recorded
-- before keep their clear columns (their events hold them so); rows
-- recorded since leave those NULL and keep the sealed text beside them.
ALTER TABLE runs ADD COLUMN sealed_message TEXT;
ALTER TABLE tokens ADD COLUMN sealed_name TEXT;
