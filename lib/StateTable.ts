import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { TABLE } from '../lambdas/core/contract';
import { checkOneOf, TidewatchConfigError } from './validate';

/** Who holds the state table's encryption key. */
export type StateTableEncryption = 'customer-managed' | 'aws-managed';
export const STATE_TABLE_ENCRYPTIONS: readonly StateTableEncryption[] = ['customer-managed', 'aws-managed'];

export interface StateTableOptions {
  /**
   * `customer-managed`: the pipeline key (you control its policy and
   * can audit its use); `aws-managed`: the `aws/dynamodb` key, whose policy AWS owns.
   *
   * @default 'customer-managed'
   */
  readonly encryption?: StateTableEncryption;
  /**
   * What `cdk destroy` does with the table. The table holds open windows,
   * alert lifecycles and quarantined records: keep it unless it is a test stack.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

export interface StateTableProps extends StateTableOptions {
  /** The key for `customer-managed` encryption; required then, ignored otherwise. */
  readonly encryptionKey?: kms.IKey;
}

/**
 * The windowed state: one table, generic keys, layout from `TABLE` in
 * lambdas/core/contract.ts. On-demand billing, point-in-time recovery, TTL on
 * `expiresAt`, and the sparse `byCloseAt` index the ticker queries for
 * windows due to close.
 */
export class StateTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: StateTableProps = {}) {
    super(scope, id);
    const encryption = props.encryption ?? 'customer-managed';
    checkOneOf('stateTable.encryption', encryption, STATE_TABLE_ENCRYPTIONS);
    if (encryption === 'customer-managed' && props.encryptionKey === undefined) {
      throw new TidewatchConfigError('stateTable.encryption "customer-managed" needs an encryptionKey');
    }

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TABLE.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(encryption === 'customer-managed'
        ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.encryptionKey }
        : { encryption: dynamodb.TableEncryption.AWS_MANAGED }),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: TABLE.dueIndex.name,
      partitionKey: { name: TABLE.dueIndex.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE.dueIndex.sortKey, type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.INCLUDE,
      nonKeyAttributes: [...TABLE.dueIndexAttributes],
    });
  }
}
