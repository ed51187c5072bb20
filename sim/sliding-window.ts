/**
 * A log of admissions over the last 60 seconds (or another window length), with the running totals a rate limiter
 * needs. An admission at time `t` is inside the window at `now` while `now - t < WINDOW_MS`, and leaves it at
 * `t + WINDOW_MS`.
 * Every operation is O(1) amortised except the token wait, a binary search; the log holds only the last
 * minute, so a run of any length costs memory for one minute of traffic.
 */

/** Length of a rate-limit window. */
export const WINDOW_MS = 60_000;

/** Compact the arrays once this many expired entries have piled up at their front. */
const COMPACT_AFTER = 1024;

/**
 * Admissions of the last minute, and the most seen within any one window since the log was created.
 * @example
 * const window = new SlidingWindow();
 * window.add(0, 500);
 * window.count(59_999); // 1
 * window.count(60_000); // 0
 */
export class SlidingWindow {
  readonly #lengthMs: number;
  /** Admission times, oldest first; entries before `#head` have left the window. */
  #at: number[] = [];
  /** Running token total up to and including each entry, so any span's tokens are one subtraction. */
  #cumulative: number[] = [];
  #head = 0;
  #totalTokens = 0;
  /** Running total of the entries that have left the window. */
  #expiredTokens = 0;
  #latest = Number.NEGATIVE_INFINITY;
  #admitted = 0;
  #maxRequests = 0;
  #maxTokens = 0;

  /** @param lengthMs the window's length: a minute, or a day for a per-day limit. */
  constructor(lengthMs: number = WINDOW_MS) {
    this.#lengthMs = lengthMs;
  }

  /** Admissions in the window at `now`. */
  count(now: number): number {
    this.#expire(now);
    return this.#at.length - this.#head;
  }

  /** Tokens admitted in the window at `now`. */
  tokens(now: number): number {
    this.#expire(now);
    return this.#totalTokens - this.#expiredTokens;
  }

  /** Records an admission; time never goes back in the log (a clock that does is read as standing still). */
  add(now: number, tokens: number): void {
    const at = Math.max(now, this.#latest);
    this.#expire(at);
    this.#latest = at;
    this.#totalTokens += tokens;
    this.#at.push(at);
    this.#cumulative.push(this.#totalTokens);
    this.#admitted++;
    // Each window that ends at an admission holds every admission that can share a window with it, so the
    // maxima over these windows are the maxima over all windows.
    this.#maxRequests = Math.max(this.#maxRequests, this.#at.length - this.#head);
    this.#maxTokens = Math.max(this.#maxTokens, this.#totalTokens - this.#expiredTokens);
  }

  /** Milliseconds from `now` until at most `maxCount` admissions remain in the window (0 if already so). */
  waitForCount(now: number, maxCount: number): number {
    const count = this.count(now);
    if (count <= Math.max(0, maxCount)) return 0;
    const index = this.#head + count - Math.max(0, maxCount) - 1;
    return this.#expiryOf(index, now);
  }

  /** Milliseconds from `now` until at most `maxTokens` tokens remain in the window (0 if already so). */
  waitForTokens(now: number, maxTokens: number): number {
    const excess = this.tokens(now) - Math.max(0, maxTokens);
    if (excess <= 0) return 0;
    // The first entry whose expiry frees at least `excess` tokens.
    const target = this.#expiredTokens + excess;
    let low = this.#head;
    let high = this.#cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#cumulative[middle] ?? 0) >= target) high = middle;
      else low = middle + 1;
    }
    return this.#expiryOf(low, now);
  }

  /** Admissions ever recorded. */
  get admitted(): number {
    return this.#admitted;
  }

  /** The most admissions within any one window so far. */
  get maxRequests(): number {
    return this.#maxRequests;
  }

  /** The most tokens admitted within any one window so far. */
  get maxTokens(): number {
    return this.#maxTokens;
  }

  #expiryOf(index: number, now: number): number {
    const at = this.#at[index] ?? now;
    return Math.max(0, at + this.#lengthMs - Math.max(now, this.#latest));
  }

  #expire(now: number): void {
    const edge = Math.max(now, this.#latest) - this.#lengthMs;
    let head = this.#head;
    while (head < this.#at.length && (this.#at[head] ?? edge) <= edge) head++;
    if (head === this.#head) return;
    this.#expiredTokens = this.#cumulative[head - 1] ?? this.#expiredTokens;
    this.#head = head;
    if (head >= COMPACT_AFTER && head * 2 >= this.#at.length) {
      this.#at = this.#at.slice(head);
      this.#cumulative = this.#cumulative.slice(head);
      this.#head = 0;
    }
  }
}
