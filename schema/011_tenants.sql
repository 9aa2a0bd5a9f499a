-- Tenants (lib/tenant.h): every record belongs to one, and every read is
-- filtered by the principal's. Rows from before tenants existed are the
-- default tenant's, whose ids did not change.
ALTER TABLE events ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE imports ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE recipes ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE epochs ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE assistance_requests ADD COLUMN tenant text NOT NULL DEFAULT 'default';
-- A username is a tenant's: two tenants' "Ann" are two users.
ALTER TABLE users ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE users DROP CONSTRAINT users_pkey, ADD PRIMARY KEY (tenant, username);

-- The event query's keyset order within a tenant: ORDER BY occurred_at, id
-- after tenant = $1. The old index stays for contains= and type= plans.
CREATE INDEX events_tenant_occurred_at_id ON events (tenant, occurred_at, id);
CREATE INDEX events_tenant_external_id ON events (tenant, external_id) WHERE external_id IS NOT NULL;
