import type { Sql } from '@cmq/common';

/** What `cmq check` needs of a verdict to add WARNINGs to it. */
interface Verdict {
  code: number;
  text: string;
  perfdata: string[];
}

const WARNING = 1;

/**
 * A WARNING text per autoscaling policy whose launch breaker is open:
 * `autoscaling policy fleet: launch breaker open until <ISO> (3 launch failures in a row)`.
 * Nothing when the schema has no policies yet (an older database answers for the rest of the check).
 */
export async function openBreakers(sql: Sql): Promise<string[]> {
  try {
    const { rows } = await sql.query<{ name: string; until: Date; failures: number }>(
      `SELECT name, breaker_open_until AS until, launch_failures AS failures FROM policies
       WHERE enabled AND breaker_open_until > now() ORDER BY name`,
    );
    return rows.map(
      (r) =>
        `autoscaling policy ${r.name}: launch breaker open until ${r.until.toISOString()} (${r.failures} launch failures in a row; cmq policies decisions --policy ${r.name})`,
    );
  } catch {
    return [];
  }
}

/** The verdict with these WARNINGs added: at least WARNING, each named after the worse problems. */
export function withWarnings<V extends Verdict>(verdict: V, warnings: readonly string[]): V {
  if (warnings.length === 0) return verdict;
  if (verdict.code === 0) return { ...verdict, code: WARNING, text: warnings.join('; ') };
  return { ...verdict, code: Math.max(verdict.code, WARNING), text: [verdict.text, ...warnings].join('; ') };
}
