import { DescribeTableCommand, type TableDescription } from '@aws-sdk/client-dynamodb';
import { type Finding, type Outcome, ok, problems, type Watch } from '#cli/doctor/check.ts';
import type { DoctorContext } from '#cli/doctor/context.ts';
import { errorNamed } from '#cli/doctor/errors.ts';
import { endpointOf, failedFinding, redeployFix } from '#cli/doctor/findings.ts';

/**
 * The state and memory tables exist and are ACTIVE, with every index.
 * @example const outcome = await tablesCheck(context, watch);
 */
export async function tablesCheck(context: DoctorContext, watch: Watch): Promise<Outcome> {
  const { target } = context;
  const endpoint = endpointOf(target, 'dynamodb');
  const tables = [
    { label: 'state', name: target.stateTableName },
    ...(target.outputs.MemoryTableName ? [{ label: 'memory', name: target.outputs.MemoryTableName }] : []),
  ];
  const found: Finding[] = [];
  await Promise.all(
    tables.map(async ({ label, name }) => {
      let table: TableDescription | undefined;
      try {
        ({ Table: table } = await watch(endpoint, (abortSignal) =>
          target.dynamo.send(new DescribeTableCommand({ TableName: name }), { abortSignal }),
        ));
      } catch (error) {
        found.push(
          errorNamed(error, 'ResourceNotFoundException')
            ? { problem: `the ${label} table ${name} does not exist`, fix: redeployFix(target) }
            : failedFinding(target, error, 'dynamodb:DescribeTable', `table ${name}`, endpoint),
        );
        return;
      }
      const inactive = [
        ...(table?.TableStatus === 'ACTIVE' ? [] : [`the table is ${table?.TableStatus ?? 'in an unknown state'}`]),
        ...(table?.GlobalSecondaryIndexes ?? [])
          .filter((index) => index.IndexStatus !== 'ACTIVE')
          .map((index) => `its index ${index.IndexName} is ${index.IndexStatus}`),
      ];
      if (inactive.length > 0) {
        found.push({
          problem: `the ${label} table ${name} is not ready: ${inactive.join(', ')}`,
          fix: 'wait until it is ACTIVE (an update or a restore is under way); the stages fail until then',
        });
      }
    }),
  );
  if (found.length > 0) return problems(found);
  return ok(tables.map(({ label, name }) => `${label} table ${name} is ACTIVE`).join('; '));
}
