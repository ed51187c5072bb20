import type { CrashCounts } from '../crashes.ts';
import type { RunEvidence } from '../evidence.ts';
import { parkedItems } from './delivery.ts';
import type { Finding } from './finding.ts';

/** A chaos run whose faults never fired proves nothing: every fault the scenario asks for must have happened. */
export function faultsInjectedCheck(run: RunEvidence): Finding {
  const { scenario, input } = run;
  const expected: { fault: string; fired: number }[] = [];
  for (const [point, probability] of Object.entries(scenario.crashes)) {
    if (
      point === 'maxPerItem' ||
      typeof probability !== 'number' ||
      probability <= 0 ||
      scenario.crashes.maxPerItem === 0
    )
      continue;
    expected.push({ fault: `crash ${point}`, fired: input.crashes.byPoint[point as keyof CrashCounts] ?? 0 });
  }
  const faults = scenario.simulator.faults;
  const sim = input.simulator;
  for (const [status, rate] of Object.entries(faults.errorRates ?? {})) {
    if (rate > 0) expected.push({ fault: `provider ${status}`, fired: sim?.errorsServed[status] ?? 0 });
  }
  if ((faults.hangRate ?? 0) > 0) expected.push({ fault: 'provider hangs', fired: sim?.hung ?? 0 });
  if ((faults.malformedRate ?? 0) > 0) expected.push({ fault: 'malformed output', fired: sim?.malformed ?? 0 });
  if (scenario.providerOutages.length > 0 || (faults.outages ?? []).length > 0) {
    expected.push({ fault: 'provider outage', fired: sim?.callsDuringOutage ?? 0 });
  }
  if (scenario.memoryOutages.length > 0) {
    expected.push({ fault: 'memory outage', fired: input.timeline.memory.lookupsDuringOutage });
  }
  if (scenario.limitChanges.length > 0) {
    expected.push({ fault: 'limit change', fired: input.timeline.limitChanges.length });
  }
  if (scenario.items.poison > 0) expected.push({ fault: 'poison items', fired: input.accepted.poisonItemIds.length });
  if (scenario.items.duplicates > 0) expected.push({ fault: 'duplicate messages', fired: input.messages.duplicates });
  if (scenario.expect.budgetExhausted) expected.push({ fault: 'budget exhausted', fired: parkedItems(run).ids.length });
  const missing = expected.filter((entry) => entry.fired === 0);
  return {
    name: 'faultsInjected',
    ok: missing.length === 0,
    observed: expected.length - missing.length,
    limit: expected.length,
    detail:
      expected.length === 0
        ? 'this scenario injects no faults'
        : `${expected.map((entry) => `${entry.fault} ${entry.fired}`).join(', ')}${missing.length > 0 ? `; never fired: ${missing.map((entry) => entry.fault).join(', ')}` : ''}`,
  };
}
