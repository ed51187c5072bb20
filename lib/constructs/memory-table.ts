import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';

/**
 * Past items the draft stage looks up for context (key `pk`/`sk`).
 * @example
 * const memory = new MemoryTable(this, 'MemoryTable');
 * memory.grantLookup(draftFn);
 * memory.grantRemember(draftFn);
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

  /** Lets `grantee` look related items up (Query), and nothing else. */
  grantLookup(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: ['dynamodb:Query'], resourceArns: [this.tableArn] });
  }

  /** Lets `grantee` remember a published item (BatchWriteItem: its topic and entity entries at once), and nothing else. */
  grantRemember(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: ['dynamodb:BatchWriteItem'], resourceArns: [this.tableArn] });
  }
}
