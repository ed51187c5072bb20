import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { ITEM_READ_WRITE_ACTIONS } from './state-table.ts';

/**
 * Past items the draft stage looks up for context (key `pk`/`sk`).
 * @example
 * const memory = new MemoryTable(this, 'MemoryTable');
 * memory.grantItemReadWrite(draftFn);
 */
export class MemoryTable extends Table {
  constructor(scope: Construct, id: string) {
    super(scope, id, {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      // Accumulated knowledge cannot be rebuilt without paying for every item again.
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** Item reads, writes and queries on the table. */
  grantItemReadWrite(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: [...ITEM_READ_WRITE_ACTIONS], resourceArns: [this.tableArn] });
  }

  /** Lets `grantee` look related items up (Query), and nothing else. */
  grantLookup(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: ['dynamodb:Query'], resourceArns: [this.tableArn] });
  }
}
