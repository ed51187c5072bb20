import { type Finding, type Outcome, ok, problems, type Watch } from '#cli/doctor/check.ts';
import type { DoctorContext } from '#cli/doctor/context.ts';
import { endpointOf, redeployFix } from '#cli/doctor/findings.ts';
import { describeControl } from '#cli/pause.ts';
import { readEventSources } from '#ops/stage-switch.ts';

/**
 * Each stage's event source is enabled; a paused one says who paused it and why.
 * @example const outcome = await eventSourcesCheck(context, watch);
 */
export async function eventSourcesCheck(context: DoctorContext, watch: Watch): Promise<Outcome> {
  const { target } = context;
  const sources = await watch(endpointOf(target, 'lambda'), () => readEventSources(target));
  const found: Finding[] = [];
  const running: string[] = [];
  for (const source of sources) {
    if (source.enabled === true) {
      running.push(`${source.stage} ${source.state}`);
      continue;
    }
    if (source.enabled === false) {
      const who =
        source.control?.paused === true
          ? describeControl(source.control)
          : 'no control record says who paused it (changed outside sluice)';
      found.push({
        problem: `the ${source.stage} stage is paused: its event source mapping ${source.mappingId} is ${source.state}; ${who}`,
        fix: `sluice resume ${source.stage}`,
      });
      continue;
    }
    const note = source.note ?? 'not read';
    if (source.mappingId === null) {
      found.push({ problem: `the ${source.stage} stage's event source is unknown: ${note}`, fix: redeployFix(target) });
    } else if (/AccessDenied|not authorized/i.test(note)) {
      const who = /User: (\S+) is not authorized/.exec(note)?.[1];
      found.push({
        problem: `the operator's credentials${who === undefined ? '' : ` (${who})`} may not call lambda:GetEventSourceMapping on ${source.mappingId}`,
        fix: `grant lambda:GetEventSourceMapping on the stack's event source mappings to ${who ?? 'the IAM identity sluice runs as'}`,
      });
    } else {
      found.push({
        problem: `cannot read the ${source.stage} stage's event source mapping ${source.mappingId}: ${note}`,
        fix: context.local ? "restart 'sluice dev'" : redeployFix(target),
      });
    }
  }
  if (found.length > 0) return problems(found);
  return ok(`every stage's event source is enabled: ${running.join(', ')}`);
}
