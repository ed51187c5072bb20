import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { resourcesOfType, type SynthesizedStack, synthesizeStack } from './stack-fixture.ts';

/**
 * Least privilege, role by role: every action each function's role is allowed, on every resource, exactly. The
 * DynamoDB actions are the commands each function's code sends (functions/: GetItem, PutItem and UpdateItem on
 * records, Query on an item's ledger, the supervisor's Query on the ByState index, the draft stage's Query and
 * BatchWriteItem on the memory table), so an action granted that no code uses, or a table reached without one,
 * fails here.
 */

interface PolicyStatement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

const defaults = synthesizeStack();

/** A resource as a readable name: logical ids for references, `${AWS::Region}` for pseudo parameters. */
function nameOf(value: unknown): string {
  if (typeof value === 'string') return value;
  const token = value as { 'Fn::GetAtt'?: [string, string]; Ref?: string; 'Fn::Join'?: [string, unknown[]] };
  if (token['Fn::GetAtt'] !== undefined) return token['Fn::GetAtt'][0];
  if (token.Ref !== undefined) return token.Ref.startsWith('AWS::') ? `\${${token.Ref}}` : token.Ref;
  if (token['Fn::Join'] !== undefined) return token['Fn::Join'][1].map(nameOf).join(token['Fn::Join'][0]);
  throw new Error(`unexpected resource ${JSON.stringify(value)}`);
}

/** Every action a role is allowed, by resource name, sorted: what its policies grant, as IAM evaluates them. */
function grantsOf(synth: SynthesizedStack, fn: { role?: IConstruct | undefined }): Record<string, string[]> {
  if (fn.role === undefined) throw new Error('the function has no role');
  const roleId = synth.logicalId(fn.role);
  const grants: Record<string, Set<string>> = {};
  for (const policy of Object.values(resourcesOfType(synth.template, 'AWS::IAM::Policy'))) {
    const properties = policy.Properties as { Roles: unknown[]; PolicyDocument: { Statement: PolicyStatement[] } };
    if (!properties.Roles.some((role) => nameOf(role) === roleId)) continue;
    for (const statement of properties.PolicyDocument.Statement) {
      expect(statement.Effect).toBe('Allow');
      expect(statement.Condition).toBeUndefined();
      const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
      const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
      for (const resource of resources) {
        const name = nameOf(resource);
        grants[name] ??= new Set();
        for (const action of actions) grants[name].add(action);
      }
    }
  }
  return Object.fromEntries(Object.entries(grants).map(([name, actions]) => [name, [...actions].sort()]));
}

const id = (construct: IConstruct) => defaults.logicalId(construct);
const XRAY = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
const SEND = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
const CONSUME = [
  'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
  'sqs:ReceiveMessage',
  'sqs:SendMessage',
];
const SECRET = ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'];
/** What a stage does on the state table: records read, written and updated (conditionally), the ledger queried. */
const STAGE_STATE = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'];

describe('Least privilege: each role may do exactly what its code does', () => {
  const { stack } = defaults;
  const stateTable = id(stack.stateTable);
  const memoryTable = id(stack.memoryTable);
  const secret = id(stack.apiKeySecret);

  it('lets the extract function use the state table, its queues and the secret, and nothing else', () => {
    // Act
    const grants = grantsOf(defaults, stack.stage('extract').function);

    // Assess
    expect(grants).toEqual({
      '*': XRAY,
      [id(stack.stage('extract').queue)]: CONSUME,
      [id(stack.stage('extract').deadLetterQueue)]: SEND,
      [id(stack.stage('draft').queue)]: SEND,
      [stateTable]: STAGE_STATE,
      [secret]: SECRET,
    });
  });

  it('lets the draft function look up and remember past items in the memory table besides', () => {
    // Act
    const grants = grantsOf(defaults, stack.stage('draft').function);

    // Assess
    expect(grants).toEqual({
      '*': XRAY,
      [id(stack.stage('draft').queue)]: CONSUME,
      [id(stack.stage('draft').deadLetterQueue)]: SEND,
      [id(stack.published.queue)]: SEND,
      [stateTable]: STAGE_STATE,
      [memoryTable]: ['dynamodb:BatchWriteItem', 'dynamodb:Query'],
      [secret]: SECRET,
    });
  });

  it('lets the supervisor read and write records, query the items awaiting history and probe the memory table', () => {
    // Prepare
    const supervisor = stack.supervisor;
    if (supervisor === undefined) throw new Error('the supervisor is on by default');
    const mapping = (stage: 'extract' | 'draft') =>
      `arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:event-source-mapping:${nameOf(stack.resolve(stack.stage(stage).eventSourceMappingId))}`;

    // Act
    const grants = grantsOf(defaults, supervisor.function);

    // Assess
    expect(grants).toEqual({
      '*': XRAY,
      [stateTable]: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      [`${stateTable}/index/AwaitingHistory`]: ['dynamodb:Query'],
      [memoryTable]: ['dynamodb:Query'],
      [mapping('extract')]: ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'],
      [mapping('draft')]: ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'],
      [id(stack.stage('extract').queue)]: ['sqs:GetQueueAttributes'],
      [id(stack.stage('draft').queue)]: SEND,
      [secret]: SECRET,
    });
  });
});
