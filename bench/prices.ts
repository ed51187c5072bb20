import type { ShippedStage as Stage } from '#functions/pipeline.ts';
import type { BenchRun } from './bench-run.ts';

/**
 * AWS list prices (us-east-1, on-demand, no free tier) used to turn measured requests, capacity units and
 * Lambda time into dollars. As published on the services' pricing pages, DynamoDB's after its November 2024
 * on-demand reduction; check them before relying on the totals.
 */
export const AWS_PRICES = {
  asOf: '2024-11 (us-east-1 list prices)',
  sqsPerMillionRequests: 0.4,
  dynamoDbPerMillionWriteUnits: 0.625,
  dynamoDbPerMillionReadUnits: 0.125,
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
} as const;

export type AwsPrices = typeof AWS_PRICES;

export interface StageCost {
  sqsRequests: number;
  dynamoDbWriteUnits: number;
  /** Writes the ByState index (projection ALL) receives: one per item-record write, at its size. */
  indexWriteUnits: number;
  dynamoDbReadUnits: number;
  lambdaInvocations: number;
  lambdaGbSeconds: number;
  /** Dollars per 1,000 items. */
  usd: { sqs: number; dynamoDb: number; lambda: number; total: number };
}

export interface InfraCost {
  perThousandItems: Record<Stage, StageCost>;
  infraUsdPerThousand: number;
  llmUsdPerThousand: number;
  /** Infrastructure dollars as a share of LLM dollars. */
  infraShareOfLlm: number;
}

/** Infrastructure and LLM dollars per 1,000 items from a run's counted requests, units and invocation times. */
export function infraCost(run: BenchRun, items: number, prices: AwsPrices): InfraCost {
  const scale = 1000 / items;
  const perStage = (stage: Stage): StageCost => {
    const tallies = run.requests.filter((tally) => tally.stage === stage);
    // Empty receives are idle polling, not per-item work; they are reported apart.
    const sqsRequests = tallies.filter((t) => t.service === 'sqs').reduce((sum, t) => sum + t.requests, 0) * scale;
    const dynamo = tallies.filter((t) => t.service === 'dynamodb');
    const dynamoDbWriteUnits = dynamo.reduce((sum, t) => sum + t.writeUnits, 0) * scale;
    const indexWriteUnits = dynamo.filter((t) => t.target === 'ITEM').reduce((sum, t) => sum + t.writeUnits, 0) * scale;
    const dynamoDbReadUnits = dynamo.reduce((sum, t) => sum + t.readUnits, 0) * scale;
    const invocations = run.invocations[stage];
    const lambdaInvocations = invocations.invocations * scale;
    const lambdaGbSeconds = (invocations.durationMs / 1000) * (invocations.memoryMb / 1024) * scale;
    const sqs = (sqsRequests / 1e6) * prices.sqsPerMillionRequests;
    const dynamoDb =
      ((dynamoDbWriteUnits + indexWriteUnits) / 1e6) * prices.dynamoDbPerMillionWriteUnits +
      (dynamoDbReadUnits / 1e6) * prices.dynamoDbPerMillionReadUnits;
    const lambda =
      lambdaGbSeconds * prices.lambdaArmPerGbSecond + (lambdaInvocations / 1e6) * prices.lambdaPerMillionRequests;
    return {
      sqsRequests,
      dynamoDbWriteUnits,
      indexWriteUnits,
      dynamoDbReadUnits,
      lambdaInvocations,
      lambdaGbSeconds,
      usd: { sqs, dynamoDb, lambda, total: sqs + dynamoDb + lambda },
    };
  };
  const perThousandItems = { extract: perStage('extract'), draft: perStage('draft') };
  const infraUsdPerThousand = perThousandItems.extract.usd.total + perThousandItems.draft.usd.total;
  const llmUsdPerThousand = run.report.metrics.llm.costUsd * scale;
  return {
    perThousandItems,
    infraUsdPerThousand,
    llmUsdPerThousand,
    infraShareOfLlm: llmUsdPerThousand === 0 ? 0 : infraUsdPerThousand / llmUsdPerThousand,
  };
}
