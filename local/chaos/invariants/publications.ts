import type { RunEvidence } from '../evidence.ts';
import { type Finding, joined, listed } from './finding.ts';

/** Publications: exactly one per item and generation; a repeated event is explained by a crash in the publisher. */

/** Published events by item (their publication ids), and how often each publication id was sent. */
export function publicationsOf(run: RunEvidence): {
  byItem: Map<string, Set<string>>;
  eventCounts: Map<string, number>;
} {
  const byItem = new Map<string, Set<string>>();
  const eventCounts = new Map<string, number>();
  for (const event of run.events.valid) {
    const ids = byItem.get(event.itemId) ?? new Set<string>();
    ids.add(event.publicationId);
    byItem.set(event.itemId, ids);
    eventCounts.set(event.publicationId, (eventCounts.get(event.publicationId) ?? 0) + 1);
  }
  return { byItem, eventCounts };
}

export function missingEventsCheck(run: RunEvidence): Finding {
  const { eventCounts } = publicationsOf(run);
  const published = [...run.items.values()].filter((item) => item.state === 'PUBLISHED');
  const missing = published.filter(
    (item) => item.publication === undefined || !eventCounts.has(item.publication.publicationId),
  );
  const { invalid } = run.events;
  return {
    name: 'missingEvents',
    ok: missing.length === 0 && invalid.length === 0,
    observed: missing.length + invalid.length,
    limit: 0,
    detail:
      missing.length === 0 && invalid.length === 0
        ? `every one of ${published.length} PUBLISHED items has its event on the published queue`
        : joined([
            missing.length > 0
              ? `${missing.length} PUBLISHED item(s) without their event: ${listed(missing.map((item) => item.itemId))}`
              : '',
            invalid.length > 0 ? `${invalid.length} event(s) not matching the schema` : '',
          ]),
    involved: missing.map((item) => item.itemId),
  };
}

/**
 * A redraft with history (re-enrichment) publishes the item again under its next generation: one publication per
 * generation is exactly once.
 */
export function duplicatedPublicationsCheck(run: RunEvidence): Finding {
  const { byItem } = publicationsOf(run);
  const { items } = run;
  const multiplyPublished = [...byItem]
    .filter(([itemId, ids]) => {
      const generations = [...ids].map((id) => /#g(\d+)#/.exec(id)?.[1] ?? '0');
      return new Set(generations).size < ids.size || ids.size > (items.get(itemId)?.generation ?? 0) + 1;
    })
    .map(([id]) => id);
  const notPublished = [...byItem.keys()].filter((id) => items.get(id)?.state !== 'PUBLISHED');
  const duplicated = [...new Set([...multiplyPublished, ...notPublished])];
  return {
    name: 'duplicatedPublications',
    ok: duplicated.length === 0,
    observed: duplicated.length,
    limit: 0,
    detail:
      duplicated.length === 0
        ? `${byItem.size} item(s) published, each under one publicationId (per generation)`
        : joined([
            multiplyPublished.length > 0
              ? `published under several publicationIds: ${listed(multiplyPublished.map((id) => `${id} (${[...(byItem.get(id) ?? [])].join(', ')})`))}`
              : '',
            notPublished.length > 0
              ? `events for items that are not PUBLISHED: ${listed(notPublished.map((id) => `${id} (${items.get(id)?.state ?? 'no record'})`))}`
              : '',
          ]),
    involved: duplicated,
  };
}

export function repeatedEventsCheck(run: RunEvidence): Finding {
  const { eventCounts } = publicationsOf(run);
  const { input, publisher } = run;
  const crashes = input.crashes.byStage[publisher.name] ?? { 'after-send': 0, delete: 0 };
  const repeated = [...eventCounts.values()].reduce((sum, n) => sum + n - 1, 0);
  const allowance = crashes['after-send'] + crashes.delete + input.pollerTimeouts;
  const repeatedIds = [...eventCounts].filter(([, n]) => n > 1).map(([id]) => id);
  return {
    name: 'repeatedEvents',
    ok: repeated <= allowance,
    observed: repeated,
    limit: allowance,
    detail: `${repeated} repeated event(s) (same publicationId) against ${crashes['after-send']} crash(es) after the send and ${crashes.delete} lost delete(s) in the ${publisher.name} stage${input.pollerTimeouts > 0 ? ` and ${input.pollerTimeouts} abandoned invocation(s)` : ''}${repeatedIds.length > 0 ? `: ${listed(repeatedIds)}` : ''}`,
    involved: repeatedIds.map((id) => id.split('#')[0] ?? id),
  };
}
