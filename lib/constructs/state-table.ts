import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import {
  AWAITING_HISTORY_ATTRIBUTE,
  AWAITING_HISTORY_INDEX,
  AWAITING_HISTORY_PROJECTION,
} from '#shared/degraded-items.ts';
import { TTL_ATTRIBUTE } from '#shared/retention.ts';

/**
 * What a stage function does on the state table, and nothing more: reads, writes and conditional updates of single
 * records (items, checkpoints, ledger entries, breaker / rate-limit / budget records) and queries of an item's
 * ledger. No scans, deletes, batches or index queries: nothing in a stage sends them.
 */
const STAGE_STATE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'] as const;

/** What the supervisor does on the table's records: reads, writes and conditional updates of single records. */
const RECORD_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'] as const;

/**
 * The item state machine, checkpoints, LLM call ledger, token/cost ledger and breaker / rate-limit / budget
 * records: key `pk`/`sk`, TTL on `expiresAt`, and a sparse `ByState` index (`state`, `updatedAt`) holding only
 * the records that carry a state, so items in a given state can be listed in time order.
 * @example
 * const state = new StateTable(this, 'StateTable');
 * state.grantStageAccess(fn);
 */
export class StateTable extends Table {
  /** Name of the sparse index on `state` and `updatedAt`. */
  static readonly BY_STATE_INDEX = 'ByState';
  /** Name of the sparse index of the published items waiting to be drafted again with history. */
  static readonly AWAITING_HISTORY_INDEX = AWAITING_HISTORY_INDEX;

  constructor(scope: Construct, id: string) {
    super(scope, id, {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // The AWS managed key makes encryption explicit in the template and its use visible in CloudTrail.
      encryption: TableEncryption.AWS_MANAGED,
      // Settled items, ledger rows and a day's usage and budget records expire (functions/shared/retention.ts).
      timeToLiveAttribute: TTL_ATTRIBUTE,
      // The ledgers are the proof of what was paid for; a stack deletion must not take them along.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.addGlobalSecondaryIndex({
      indexName: StateTable.BY_STATE_INDEX,
      partitionKey: { name: 'state', type: AttributeType.STRING },
      sortKey: { name: 'updatedAt', type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });
    // Holds only the items published without history and not yet drafted again (functions/shared/degraded-items.ts),
    // so the supervisor's look at them reads what it may re-queue, not every published item.
    this.addGlobalSecondaryIndex({
      indexName: AWAITING_HISTORY_INDEX,
      partitionKey: { name: AWAITING_HISTORY_ATTRIBUTE, type: AttributeType.STRING },
      sortKey: { name: 'updatedAt', type: AttributeType.STRING },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: [...AWAITING_HISTORY_PROJECTION],
    });
  }

  /** Lets a stage function read, write and update records and query an item's ledger ({@link STAGE_STATE_ACTIONS}). */
  grantStageAccess(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: [...STAGE_STATE_ACTIONS], resourceArns: [this.tableArn] });
  }

  /** Lets `grantee` read, write and update single records ({@link RECORD_ACTIONS}), and nothing else. */
  grantRecordReadWrite(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: [...RECORD_ACTIONS], resourceArns: [this.tableArn] });
  }

  /** Lets `grantee` list records by state (Query on the `ByState` index), and nothing else. */
  grantByStateQuery(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:Query'],
      resourceArns: [`${this.tableArn}/index/${StateTable.BY_STATE_INDEX}`],
    });
  }

  /** Lets `grantee` list the items waiting to be drafted again with history, and nothing else. */
  grantAwaitingHistoryQuery(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:Query'],
      resourceArns: [`${this.tableArn}/index/${AWAITING_HISTORY_INDEX}`],
    });
  }
}
