import { type Finding, type Outcome, ok, problems } from '#cli/doctor/check.ts';
import type { DoctorContext } from '#cli/doctor/context.ts';
import { redeployFix } from '#cli/doctor/findings.ts';
import { LOCAL_OUTPUT_KEYS, STACK_OUTPUT_KEYS } from '#lib/outputs.ts';

/**
 * Every output the stack defines is present (and, locally, the runtime's endpoints).
 * @example const outcome = await outputsCheck(context);
 */
export function outputsCheck(context: DoctorContext): Promise<Outcome> {
  const { target, local } = context;
  const outputs = target.outputs;
  const missing = STACK_OUTPUT_KEYS.filter((key) => !outputs[key]);
  const found: Finding[] = [];
  if (missing.length > 0) {
    found.push({ problem: `the outputs lack ${missing.join(', ')}`, fix: redeployFix(target) });
  }
  const localKeys: string[] = Object.values(LOCAL_OUTPUT_KEYS);
  const missingLocal = local ? localKeys.filter((key) => !outputs[key]) : [];
  if (missingLocal.length > 0) {
    found.push({
      problem: `the outputs file names no ${missingLocal.join(', ')} (an older 'sluice dev' wrote it)`,
      fix: "restart 'sluice dev': it writes every local endpoint to the outputs file",
    });
  }
  if (found.length > 0) return Promise.resolve(problems(found));
  const endpoints = local ? ` and the ${localKeys.length} local endpoints` : '';
  return Promise.resolve(ok(`all ${STACK_OUTPUT_KEYS.length} stack outputs${endpoints} are present`));
}
