// single-connection replay: intake -> relay -> claim -> commit; measures backend CPU per stage
const { Pool } = require('pg');
const fs = require('fs');
const { insertActions, relayFamily, claimActions, commitOutcomes, parseRequest } = require('@cmq/actions');
const { withTransaction } = require('@cmq/common');
const mode = process.argv[2]; const N = Number(process.argv[3] || 20000);
const opts = mode === 'generic' ? '-c plan_cache_mode=force_generic_plan -c enable_seqscan=off -c random_page_cost=1.1' : '-c plan_cache_mode=force_custom_plan -c random_page_cost=1.1';
const cpu = (pid) => { const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
(async () => {
  const pool = new Pool({ host: '127.0.0.1', user: 'postgres', database: 'plantest', max: 1, options: opts });
  const pid = (await pool.query('select pg_backend_pid() p')).rows[0].p;
  await pool.query("insert into tenants(id,name) values ('t2','t2') on conflict do nothing");
  await pool.query("select pg_advisory_lock(7301, 1)");
  const tx = (fn) => withTransaction(pool, fn);
  const st = { intake: 0, relay: 0, claim: 0, commit: 0 };
  const node0 = process.cpuUsage();
  for (let done = 0; done < N; done += 1000) {
    let c = cpu(pid);
    const reqs = Array.from({ length: 1000 }, () => { const p = parseRequest({ type: 'noop', tenant: 't2' }); return p.request; });
    await insertActions(tx, reqs, 'bench');
    let c2 = cpu(pid); st.intake += c2 - c; c = c2;
    let ids = [];
    await relayFamily(tx, 'control', { window: 100000, tenantCap: 100000, batchSize: 1000 }, 'relay', async (rows) => { ids = rows.map((r) => r.id); });
    c2 = cpu(pid); st.relay += c2 - c; c = c2;
    const claimed = [];
    for (let i = 0; i < ids.length; i += 200) claimed.push(...await claimActions(pool, ids.slice(i, i + 200), '1', 'w'));
    c2 = cpu(pid); st.claim += c2 - c; c = c2;
    for (let i = 0; i < claimed.length; i += 200) await commitOutcomes(pool, claimed.slice(i, i + 200).map((a) => ({ id: a.id, attempt: a.attempts, state: 'succeeded', result: { ok: true } })), '1', 'w');
    c2 = cpu(pid); st.commit += c2 - c;
  }
  const nu = process.cpuUsage(node0);
  console.log(mode, Object.entries(st).map(([k, v]) => `${k} ${(v * 1000 / N).toFixed(1)}us`).join(' '), 'pg total', (Object.values(st).reduce((a, b) => a + b) * 1000 / N).toFixed(1), 'node', ((nu.user + nu.system) / N).toFixed(1));
  await pool.end();
})();
