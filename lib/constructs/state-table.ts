import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';

/** Data-plane actions of the stage functions on a table: item reads and writes, queries, no streams or admin. */
export const ITEM_READ_WRITE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:ConditionCheckItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:DescribeTable',
] as const;

/**
 * The item state machine, checkpoints, LLM call ledger, token/cost ledger and breaker / rate-limit / budget
 * records: key `pk`/`sk`, TTL on `expiresAt`, and a sparse `ByState` index (`state`, `updatedAt`) holding only
 * the records that carry a state, so items in a given state can be listed in time order.
 * @example
 * const state = new StateTable(this, 'StateTable');
 * state.grantItemReadWrite(fn);
 */
export class StateTable extends Table {
  /** Name of the sparse index on `state` and `updatedAt`. */
  static readonly BY_STATE_INDEX = 'ByState';

  constructor(scope: Construct, id: string) {
    super(scope, id, {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // The AWS managed key makes encryption explicit in the template and its use visible in CloudTrail.
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: 'expiresAt',
      // The ledgers are the proof of what was paid for; a stack deletion must not take them along.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.addGlobalSecondaryIndex({
      indexName: StateTable.BY_STATE_INDEX,
      partitionKey: { name: 'state', type: AttributeType.STRING },
      sortKey: { name: 'updatedAt', type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });
  }

  /** Item reads, writes and queries on the table and its `ByState` index, with no wildcard resource. */
  grantItemReadWrite(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: [...ITEM_READ_WRITE_ACTIONS],
      resourceArns: [this.tableArn, `${this.tableArn}/index/${StateTable.BY_STATE_INDEX}`],
    });
  }
}
