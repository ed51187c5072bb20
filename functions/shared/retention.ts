/**
 * How long the state table keeps what the pipeline is done with. DynamoDB's TTL deletes a record some time after
 * the epoch second in its `expiresAt` (within days, not at once), so the table stops growing with time. Settled
 * items (published, dead-lettered, discarded) expire `retentionSeconds` after they settled, a ledger row after its
 * call, and a UTC day's usage and budget records after the day ends. A record of work in progress has none: an
 * item going back to work (a redrive, a re-enrichment) loses its expiry until it settles again.
 */

/** The attribute the table's TTL reads (epoch seconds). */
export const TTL_ATTRIBUTE = 'expiresAt';

/**
 * When a record written at `nowMs` expires, in epoch seconds.
 * @example expiresAfter(Date.parse('2026-12-04T00:00:00Z'), 86_400) // 1796428800
 */
export const expiresAfter = (nowMs: number, retentionSeconds: number): number =>
  Math.ceil(nowMs / 1000) + retentionSeconds;

/**
 * The part of an UpdateExpression's SET that writes `expiresAt`, with its names and values; nothing when there is
 * no expiry to write (a reader's store, without retention).
 * @example const expiry = setExpiry(dayExpiresAt(day, retention)); `SET #day = :day${expiry.clause}`
 */
export function setExpiry(expiresAt: number | undefined): {
  clause: string;
  names: Record<string, string>;
  values: Record<string, number>;
} {
  if (expiresAt === undefined) return { clause: '', names: {}, values: {} };
  return {
    clause: ', #expiresAt = :expiresAt',
    names: { '#expiresAt': TTL_ATTRIBUTE },
    values: { ':expiresAt': expiresAt },
  };
}

/**
 * When the record of a UTC day (`yyyy-mm-dd`) expires: `retentionSeconds` after the day ends, in epoch seconds.
 * @example dayExpiresAt('2026-12-03', 86_400) // 1796428800
 */
export const dayExpiresAt = (day: string, retentionSeconds: number): number =>
  Date.parse(`${day}T00:00:00Z`) / 1000 + 86_400 + retentionSeconds;
