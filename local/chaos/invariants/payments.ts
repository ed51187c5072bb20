import type { CallEntry, UsageRow } from '#shared/call-ledger.ts';
import type { RunEvidence } from '../evidence.ts';
import { type Finding, listed, sumOf, usd } from './finding.ts';

/** Nothing is paid twice, and every paid call is in the ledger and the day's totals. */

/** Ledger entries marked re-billed: a call repeated after a crash between its response and its ledger write. */
export function rebilledCount(run: RunEvidence): number {
  return run.calls.filter((call) => call.rebilled === true).length;
}

export function rebilledCallsCheck(run: RunEvidence): Finding {
  const { input, callsByItem, usage } = run;
  const rebilled = rebilledCount(run);
  const afterResponse = input.crashes.byPoint['after-llm-response'];
  const hidden = [...run.items.values()]
    .filter((item) => item.state === 'PUBLISHED')
    .filter((item) => {
      const crashed = input.crashes.forItem(item.itemId)['after-llm-response'];
      return (callsByItem.get(item.itemId) ?? []).filter((call) => call.rebilled === true).length < crashed;
    })
    .map((item) => item.itemId);
  const limit = afterResponse + input.pollerTimeouts;
  return {
    name: 'rebilledCalls',
    ok: hidden.length === 0 && rebilled <= limit,
    observed: rebilled,
    limit,
    detail:
      `${rebilled} call(s) marked re-billed in the ledger (usage rows say ${sumOf(usage, (row) => row.rebilledCalls ?? 0)}) ` +
      `against ${afterResponse} crash(es) between a response and its ledger write` +
      (input.pollerTimeouts > 0 ? ` and ${input.pollerTimeouts} abandoned invocation(s)` : '') +
      (hidden.length > 0
        ? `; ${hidden.length} published item(s) repeated a crashed call without marking it re-billed: ${listed(hidden)}`
        : ''),
    involved: hidden,
  };
}

export function paidTwiceCheck({ calls }: RunEvidence): Finding {
  const okPerStep = new Map<string, number>();
  for (const call of calls) {
    if (call.outcome !== 'ok') continue;
    const key = `${call.itemId} ${call.stage}/${call.step}`;
    okPerStep.set(key, (okPerStep.get(key) ?? 0) + 1);
  }
  const paidTwice = [...okPerStep].filter(([, n]) => n > 1).map(([key]) => key);
  return {
    name: 'paidTwice',
    ok: paidTwice.length === 0,
    observed: paidTwice.length,
    limit: 0,
    detail:
      paidTwice.length === 0
        ? `every step answered validly was paid for once (${okPerStep.size} steps)`
        : `steps with more than one valid paid answer in the ledger: ${listed(paidTwice)}`,
    involved: paidTwice.map((key) => key.split(' ')[0] ?? key),
  };
}

/** Calls the provider answered that have no ledger entry: only a crash between the response and the write explains one. */
export function unrecordedCallsCheck({ input, calls }: RunEvidence): Finding {
  const afterResponse = input.crashes.byPoint['after-llm-response'];
  const served = (input.simulator?.requestsServed ?? calls.length) - (input.probeCallsAnswered ?? 0);
  const unrecorded = served - calls.length;
  return {
    name: 'unrecordedCalls',
    ok: unrecorded <= afterResponse,
    observed: unrecorded,
    limit: afterResponse,
    detail: `the provider answered ${served} call(s); the ledger holds ${calls.length}: the ${Math.max(0, unrecorded)} missing must be crash victims between the response and the ledger write`,
  };
}

export function usageMatchesLedgerCheck({ calls, usage }: RunEvidence): Finding {
  const usageCalls = sumOf(usage, (row) => row.calls);
  const usageTokens = sumOf(usage, (row) => row.promptTokens + row.completionTokens);
  const usageCost = sumOf(usage, (row) => row.costNanoUsd);
  const ledgerTokens = sumOf(calls, (call) => call.promptTokens + call.completionTokens);
  const ledgerCost = sumOf(calls, (call) => call.costNanoUsd);
  const ok = usageCalls === calls.length && usageTokens === ledgerTokens && usageCost === ledgerCost;
  const uncounted = ok ? [] : stagesShortInUsage(calls, usage);
  return {
    name: 'usageMatchesLedger',
    ok,
    observed: usageCalls,
    limit: calls.length,
    detail: ok
      ? `the day totals count every one of ${calls.length} ledger entries (${ledgerTokens} tokens, $${usd(ledgerCost)})`
      : `day totals: ${usageCalls} calls, ${usageTokens} tokens, $${usd(usageCost)}; ledger: ${calls.length} calls, ${ledgerTokens} tokens, $${usd(ledgerCost)}` +
        (uncounted.length > 0 ? `; totals short for stage/model ${uncounted.join(', ')}` : ''),
  };
}

/** Stage/model pairs whose day totals count fewer calls than their ledger entries. */
function stagesShortInUsage(calls: readonly CallEntry[], usage: readonly UsageRow[]): string[] {
  const ledger = new Map<string, number>();
  for (const call of calls) {
    const key = `${call.stage}/${call.model}`;
    ledger.set(key, (ledger.get(key) ?? 0) + 1);
  }
  const totals = new Map<string, number>();
  for (const row of usage) {
    const key = `${row.stage}/${row.model}`;
    totals.set(key, (totals.get(key) ?? 0) + row.calls);
  }
  return [...ledger]
    .filter(([key, count]) => (totals.get(key) ?? 0) !== count)
    .map(([key, count]) => `${key} (${totals.get(key) ?? 0} of ${count})`);
}
