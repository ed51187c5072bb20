import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { STACK_NAME, synthesizeTemplate } from '#lib/template.ts';
import { startLocalRuntime } from '#local/runtime.ts';

/** The stack's real state table on the embedded DynamoDB emulator, for tests of the modules that share it. */
export interface StateTable {
  readonly dynamo: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Destroys the client and stops the emulators. */
  stop(): Promise<void>;
}

/**
 * Creates the resources of the synthesized stack on the emulators (no pollers are started, no handler runs), so
 * the table has the key schema the functions see in AWS. Start it once per test file and keep tests apart by
 * giving each its own record names.
 *
 * @example
 * ```ts
 * let table: StateTable;
 * beforeAll(async () => { table = await startStateTable(); });
 * afterAll(async () => { await table?.stop(); });
 * const budget = new DailyBudget(table.dynamo, table.tableName, 10, () => now);
 * ```
 */
export async function startStateTable(): Promise<StateTable> {
  const runtime = await startLocalRuntime({
    template: synthesizeTemplate(),
    stackName: STACK_NAME,
    // The pollers are never started, so no handler is ever invoked.
    handlerFor: async () => async () => undefined,
  });
  const tableName = runtime.outputs.StateTableName;
  if (tableName === undefined) {
    await runtime.stop();
    throw new Error('the synthesized stack has no StateTableName output');
  }
  const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient(runtime.clientConfig('dynamodb')), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return {
    dynamo,
    tableName,
    async stop() {
      dynamo.destroy();
      await runtime.stop();
    },
  };
}
