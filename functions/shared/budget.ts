import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { BudgetExhaustedError, ItemBudgetExceededError } from './errors.ts';
import { dayExpiresAt, setExpiry } from './retention.ts';
import { budgetKey } from './table-keys.ts';

/**
 * The daily LLM budget, shared by every instance through one record per UTC day (`pk = BUDGET#<yyyy-mm-dd>`).
 * A call reserves its worst-case cost first (estimated prompt + max_tokens at the model's price) and settles to
 * the real cost after. `committedNano` (spent + still reserved) only grows by a conditional write that keeps it
 * within the budget, so concurrent calls can never overspend. A crash between reserve and settle leaves the
 * reservation counted: the budget errs on the side of spending less.
 */

export interface BudgetReservation {
  day: string;
  reservedNano: number;
}

export interface BudgetRecord {
  day: string;
  committedNano: number;
  spentNano: number;
}

/** How often an exhausted budget is looked at again, so a raised budget takes effect without waiting for midnight. */
const RECHECK_MS = 15 * 60_000;

export const utcDay = (at: number) => new Date(at).toISOString().slice(0, 10);

/**
 * @example
 * const reservation = await budget.reserve(worstCaseNano);   // throws BudgetExhaustedError when it would not fit
 * await budget.settle(reservation, actualNano);
 */
export class DailyBudget {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #limitNano: number;
  readonly #now: () => number;
  readonly #retentionSeconds: number | undefined;

  /** Given `retentionSeconds`, a day's record expires that long after the day (retention.ts); readers pass none. */
  constructor(
    client: DynamoDBDocumentClient,
    tableName: string,
    dailyBudgetUsd: number,
    now: () => number,
    retentionSeconds?: number,
  ) {
    this.#client = client;
    this.#tableName = tableName;
    this.#limitNano = Math.round(dailyBudgetUsd * 1e9);
    this.#now = now;
    this.#retentionSeconds = retentionSeconds;
  }

  async reserve(worstCaseNano: number): Promise<BudgetReservation> {
    const now = this.#now();
    const day = utcDay(now);
    const reserved = Math.max(0, Math.ceil(worstCaseNano));
    if (reserved > this.#limitNano) {
      throw new ItemBudgetExceededError(
        `a call of up to $${(reserved / 1e9).toFixed(6)} is more than the whole daily budget of $${this.#limitNano / 1e9}`,
      );
    }
    const expiry = setExpiry(
      this.#retentionSeconds === undefined ? undefined : dayExpiresAt(day, this.#retentionSeconds),
    );
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: this.#key(day),
          UpdateExpression: `SET #day = :day${expiry.clause} ADD committedNano :reserved`,
          ConditionExpression: 'attribute_not_exists(committedNano) OR committedNano <= :room',
          ExpressionAttributeNames: { '#day': 'day', ...expiry.names },
          ExpressionAttributeValues: {
            ':day': day,
            ':reserved': reserved,
            ':room': this.#limitNano - reserved,
            ...expiry.values,
          },
        }),
      );
      return { day, reservedNano: reserved };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const nextDay = Date.parse(`${day}T00:00:00Z`) + 86_400_000;
      throw new BudgetExhaustedError(
        `the daily budget of $${this.#limitNano / 1e9} has no room for a call of up to $${(reserved / 1e9).toFixed(6)}`,
        Math.min(nextDay - now, RECHECK_MS),
      );
    }
  }

  /**
   * Replaces the reservation with the real cost (0 when the call failed before the provider billed it).
   * Returns the day's committed total afterwards.
   */
  async settle(reservation: BudgetReservation, actualNano: number): Promise<number> {
    const { Attributes } = await this.#client.send(
      new UpdateCommand({
        TableName: this.#tableName,
        Key: this.#key(reservation.day),
        UpdateExpression: 'ADD committedNano :delta, spentNano :spent',
        ExpressionAttributeValues: { ':delta': actualNano - reservation.reservedNano, ':spent': actualNano },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(Attributes?.committedNano ?? 0);
  }

  async read(day: string): Promise<BudgetRecord> {
    const { Item } = await this.#client.send(
      new GetCommand({ TableName: this.#tableName, Key: this.#key(day), ConsistentRead: true }),
    );
    return { day, committedNano: Number(Item?.committedNano ?? 0), spentNano: Number(Item?.spentNano ?? 0) };
  }

  get limitNano(): number {
    return this.#limitNano;
  }

  #key(day: string) {
    return budgetKey(day);
  }
}
