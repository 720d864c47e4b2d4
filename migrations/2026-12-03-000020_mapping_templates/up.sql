-- Mapping templates: an account's saved mappings (source column → target
-- field with transforms), applied to new uploads. Derived from the
-- `mapping_template.*` events; the name and entries are sealed under the
-- account's subject key.
CREATE TABLE mapping_templates (
    template_id UUID PRIMARY KEY,
    account_id  UUID NOT NULL,
    details     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX mapping_templates_account ON mapping_templates (account_id, created_at);
