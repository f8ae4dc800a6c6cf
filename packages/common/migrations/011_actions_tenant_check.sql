-- Intake: the tenant of an action is checked once per batch, not once per row.
--
-- The foreign key actions.tenant_id -> tenants ran a trigger for every inserted action: a
-- lookup of its tenant that locked the tenant's row (FOR KEY SHARE), and which the services'
-- connections re-planned for every row (plan_cache_mode=force_custom_plan, see
-- packages/common/src/adapters/postgres.ts): ~10 µs of PostgreSQL CPU per action, about half of
-- what bulk intake cost (`cmq call --stdin`; README, Benchmark). Its two guarantees are kept
-- another way:
-- - an action's tenant exists: every action comes in through insertActions, which reads and
--   locks its batch's tenants (FOR KEY SHARE, once per tenant and batch) and refuses an
--   unknown or disabled one in the same transaction;
-- - a tenant that has actions cannot be deleted or renamed (the relay finds due work through
--   the tenants table, so an orphaned action would wait for ever): the trigger below, which
--   costs nothing unless a tenant row is deleted or its id changed.
ALTER TABLE actions DROP CONSTRAINT actions_tenant_id_fkey;

CREATE FUNCTION cmq_tenant_in_use() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM actions WHERE tenant_id = OLD.id) THEN
    RAISE EXCEPTION 'tenant "%" has actions: it cannot be deleted or renamed (disable it: cmq tenants disable %)', OLD.id, OLD.id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER tenants_in_use BEFORE DELETE OR UPDATE OF id ON tenants
  FOR EACH ROW EXECUTE FUNCTION cmq_tenant_in_use();
