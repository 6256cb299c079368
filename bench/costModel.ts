/**
 * Dollars per million events at the measured request counts, with AWS list
 * prices for us-east-1. The prices are written down from AWS's published
 * pricing pages as the author last knew them (no web access while writing):
 * verify them on the pages named in PRICES before quoting the results.
 */

export const PRICES = {
  region: 'us-east-1',
  checked: 'mid-2025',
  dynamodb: {
    /** On-demand: per million write request units (1 WRU = one write of up to 1 KB; larger items take one per started KB). */
    perMillionWru: 0.625,
    /** On-demand: per million read request units (1 RRU = one strongly consistent read of up to 4 KB, or two eventually consistent). */
    perMillionRru: 0.125,
    source: 'Amazon DynamoDB pricing, "Pricing for On-Demand Capacity" (aws.amazon.com/dynamodb/pricing/on-demand/)',
  },
  lambda: {
    /** Arm (Graviton) price per GB-second, first pricing tier. */
    perGbSecondArm: 0.0000133334,
    perMillionRequests: 0.2,
    source: 'AWS Lambda pricing, Arm price, first tier (aws.amazon.com/lambda/pricing/)',
  },
  kinesis: {
    /** Provisioned mode: per shard-hour. */
    perShardHour: 0.015,
    /** Provisioned mode: per million PUT payload units (one per record up to 25 KB). */
    perMillionPutUnits: 0.014,
    source: 'Amazon Kinesis Data Streams pricing, provisioned capacity mode (aws.amazon.com/kinesis/data-streams/pricing/)',
  },
  sns: {
    /** Standard topics: per million API requests (publishes), each 64 KB chunk counting as one; the first million per month are free. */
    perMillionPublishes: 0.5,
    source: 'Amazon SNS pricing, standard topics (aws.amazon.com/sns/pricing/)',
  },
} as const;

export const PRICE_NOTE = `us-east-1 list prices as published by AWS, checked ${PRICES.checked} — verify on the AWS pricing pages: ${[PRICES.kinesis, PRICES.lambda, PRICES.dynamodb, PRICES.sns].map((p) => p.source).join('; ')}`;

export interface CostInputs {
  /** Write request units per event (table writes + index writes). */
  readonly wruPerEvent: number;
  readonly rruPerEvent: number;
  /** Lambda invocations per event (1 / records per invocation). */
  readonly invocationsPerEvent: number;
  /** Lambda duration per event: the summed invocation time divided by the events (ms). */
  readonly lambdaMsPerEvent: number;
  readonly memoryMb: number;
  readonly publishesPerEvent: number;
  /** The stream: shards and the event rate they carry (shard-hours per event follow from them). */
  readonly shards: number;
  readonly eventsPerSec: number;
  /** PUT payload units per event (records up to 25 KB: 1). */
  readonly putUnitsPerEvent: number;
}

export interface CostPerMillion {
  readonly kinesis: number;
  readonly lambdaRequests: number;
  readonly lambdaCompute: number;
  readonly dynamodbWrites: number;
  readonly dynamodbReads: number;
  readonly sns: number;
  readonly total: number;
}

/** Dollars per million events. */
export function costPerMillion(c: CostInputs): CostPerMillion {
  const M = 1e6;
  const shardHoursPerEvent = c.shards / c.eventsPerSec / 3600;
  const kinesis = M * (shardHoursPerEvent * PRICES.kinesis.perShardHour + (c.putUnitsPerEvent * PRICES.kinesis.perMillionPutUnits) / M);
  const lambdaRequests = c.invocationsPerEvent * PRICES.lambda.perMillionRequests;
  const lambdaCompute = M * (c.memoryMb / 1024) * (c.lambdaMsPerEvent / 1000) * PRICES.lambda.perGbSecondArm;
  const dynamodbWrites = c.wruPerEvent * PRICES.dynamodb.perMillionWru;
  const dynamodbReads = c.rruPerEvent * PRICES.dynamodb.perMillionRru;
  const sns = c.publishesPerEvent * PRICES.sns.perMillionPublishes;
  return { kinesis, lambdaRequests, lambdaCompute, dynamodbWrites, dynamodbReads, sns, total: kinesis + lambdaRequests + lambdaCompute + dynamodbWrites + dynamodbReads + sns };
}
