-- The user who created an API key (NULL: made by an operator with `ragd keys create`, or by an
-- identity-provider token). A key stops working while its owner is disabled or gone.
ALTER TABLE api_keys ADD COLUMN owner TEXT;
