import { CloudFormationClient, GetTemplateCommand } from '@aws-sdk/client-cloudformation';
import { type CompositeAlarm, DescribeAlarmsCommand, type MetricAlarm } from '@aws-sdk/client-cloudwatch';
import * as z from 'zod';
import { type Finding, type Outcome, ok, problems, skipped, type Watch } from '#cli/doctor/check.ts';
import type { DoctorContext } from '#cli/doctor/context.ts';
import { endpointOf, failedFinding, redeployFix } from '#cli/doctor/findings.ts';
import { errorText } from '#ops/target.ts';

/**
 * The stack's alarms exist, and which are in ALARM, each with its runbook section (AWS only).
 * @example const outcome = await alarmsCheck(context, watch);
 */
export async function alarmsCheck(context: DoctorContext, watch: Watch): Promise<Outcome> {
  const { target } = context;
  const cloudwatch = target.cloudwatch;
  if (context.local || cloudwatch === undefined) return skipped('CloudWatch does not run locally');
  const endpoint = endpointOf(target, 'monitoring');
  const [expected, found] = await Promise.all([
    watch(endpointOf(target, 'cloudformation'), (signal) => expectedAlarmNames(context, signal)),
    watch(endpoint, async (abortSignal) => {
      const alarms: (MetricAlarm | CompositeAlarm)[] = [];
      let nextToken: string | undefined;
      do {
        const page = await cloudwatch.send(
          new DescribeAlarmsCommand({
            AlarmNamePrefix: target.stackName,
            AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
            NextToken: nextToken,
          }),
          { abortSignal },
        );
        alarms.push(...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? []));
        nextToken = page.NextToken;
      } while (nextToken !== undefined);
      return alarms;
    }).catch((error: unknown) => error),
  ]);
  if (!Array.isArray(found)) {
    return problems([
      failedFinding(target, found, 'cloudwatch:DescribeAlarms', `alarms ${target.stackName}*`, endpoint),
    ]);
  }
  const names = new Set(found.map((alarm) => alarm.AlarmName ?? ''));
  // With the template's names known, another stack's alarms that share the prefix are left out.
  const known = expected.names === undefined ? undefined : new Set(expected.names);
  const ours = found.filter((alarm) => known === undefined || known.has(alarm.AlarmName ?? ''));
  const notes = expected.note === undefined ? [] : [expected.note];
  const findings: Finding[] = [];
  const missing = expected.names?.filter((name) => !names.has(name)) ?? [];
  if (missing.length > 0) {
    findings.push({
      problem: `${missing.length} of the stack's ${expected.names?.length} alarms do not exist: ${missing.join(', ')}`,
      fix: redeployFix(target),
    });
  } else if (ours.length === 0) {
    findings.push({ problem: `no alarm is named ${target.stackName}*`, fix: redeployFix(target) });
  }
  for (const alarm of ours.filter((candidate) => candidate.StateValue === 'ALARM')) {
    const runbook = /Runbook: (\S+)/.exec(alarm.AlarmDescription ?? '')?.[1] ?? 'docs/runbook.md';
    const since = alarm.StateUpdatedTimestamp?.toISOString().slice(0, 19).replace('T', ' ');
    findings.push({
      problem:
        `${alarm.AlarmName} is in ALARM${since === undefined ? '' : ` since ${since}Z`}: ${alarm.StateReason ?? ''}`.trim(),
      fix: `follow its runbook section: ${runbook}`,
    });
  }
  if (findings.length > 0) return { status: 'problem', problems: findings, ...(notes.length > 0 && { notes }) };
  return ok(`${ours.length} alarms exist, none in ALARM`, notes.length > 0 ? notes : undefined);
}

/** The alarm names in the deployed template, or why they are not known (then the prefix alone is checked). */
async function expectedAlarmNames(
  context: DoctorContext,
  abortSignal: AbortSignal,
): Promise<{ names?: string[]; note?: string }> {
  const { target, options } = context;
  const own = options.cloudformation === undefined;
  const cloudformation =
    options.cloudformation ?? new CloudFormationClient(target.region === undefined ? {} : { region: target.region });
  try {
    const { TemplateBody } = await cloudformation.send(
      new GetTemplateCommand({ StackName: target.stackName, TemplateStage: 'Processed' }),
      { abortSignal },
    );
    const template = z
      .object({ Resources: z.record(z.string(), z.looseObject({ Type: z.string(), Properties: z.unknown() })) })
      .parse(JSON.parse(TemplateBody ?? ''));
    const names = Object.values(template.Resources).flatMap((resource) => {
      if (resource.Type !== 'AWS::CloudWatch::Alarm' && resource.Type !== 'AWS::CloudWatch::CompositeAlarm') return [];
      const name = (resource.Properties as { AlarmName?: unknown } | undefined)?.AlarmName;
      return typeof name === 'string' ? [name] : [];
    });
    return { names };
  } catch (error) {
    return {
      note: `the deployed template could not be read (cloudformation:GetTemplate: ${errorText(error)}): alarms were found by the prefix ${target.stackName} only`,
    };
  } finally {
    if (own) cloudformation.destroy();
  }
}
