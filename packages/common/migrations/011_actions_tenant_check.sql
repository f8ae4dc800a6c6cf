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
-- - a tenant that has actions cannot be deleted, renamed or truncated away (the relay finds due
--   work through the tenants table, so an orphaned action would wait for ever): the triggers
--   below, which cost nothing unless a tenant row is deleted or its id changed. (Like any check
--   made by a trigger, a DELETE run by hand under REPEATABLE READ or SERIALIZABLE sees only its
--   snapshot's actions; cmq-workers itself never deletes a tenant.)
ALTER TABLE actions DROP CONSTRAINT actions_tenant_id_fkey;

CREATE FUNCTION cmq_tenant_in_use() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF EXISTS (SELECT 1 FROM actions) THEN
      RAISE EXCEPTION 'tenants cannot be truncated while actions exist' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
  END IF;
  IF EXISTS (SELECT 1 FROM actions WHERE tenant_id = OLD.id) THEN
    RAISE EXCEPTION 'tenant "%" has actions: it cannot be deleted or renamed (disable it: cmq tenants disable %)', OLD.id, OLD.id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER tenants_in_use_delete BEFORE DELETE ON tenants
  FOR EACH ROW EXECUTE FUNCTION cmq_tenant_in_use();
CREATE TRIGGER tenants_in_use_rename BEFORE UPDATE OF id ON tenants
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION cmq_tenant_in_use();
CREATE TRIGGER tenants_in_use_truncate BEFORE TRUNCATE ON tenants
  FOR EACH STATEMENT EXECUTE FUNCTION cmq_tenant_in_use();
