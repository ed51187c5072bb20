import { type Outcome, ok, problems, skipped, type Watch } from '#cli/doctor/check.ts';
import type { DoctorContext } from '#cli/doctor/context.ts';
import { endpointOf } from '#cli/doctor/findings.ts';

/**
 * The API key secret can be read and holds a key (its value is never printed).
 * @example const outcome = await secretCheck(context, watch);
 */
export async function secretCheck(context: DoctorContext, watch: Watch): Promise<Outcome> {
  const secret = await watch(endpointOf(context.target, 'secretsmanager'), () => context.apiKeySecret());
  if ('key' in secret) return ok(`the API key secret ${secret.arn} holds a key (not shown)`);
  if (secret.findings.length === 0) return skipped(`${secret.unreadable} (see the outputs check)`);
  return problems(secret.findings);
}
