// Bulk user imports in progress, from the ephemeral `import.started` / `import.progress` /
// `import.finished` events (topic users): every admin's panel shows who imports what, and the
// import dialog follows its own import (the HTTP call answers only at the end).
//
// Idempotent whatever the order: counts only move forward, and an import that finished never
// becomes running again (a late progress event is dropped). Finished imports stay a little while
// (their result is shown), then go; a running one not heard of for long (its events were missed
// while disconnected) goes too.
import { computed, signal } from '@preact/signals-core';
import type { Actor, EventFrame, ImportProgress } from '../realtime/events';

export interface ImportRun extends ImportProgress {
  actor: Actor | null;
  state: 'running' | 'finished';
  /** Local clock (ms) when this panel first heard of it. */
  seenAt: number;
  /** Local clock (ms) of its latest event. */
  updatedAt: number;
}

export interface ImportsDeps {
  now?: () => number;
  /** How long a finished import stays listed (default 15 s). */
  keepFinishedMs?: number;
  /** A running import silent for this long is dropped (default 60 s). */
  staleMs?: number;
}

function isImportEvent(frame: EventFrame): frame is Extract<EventFrame, { type: 'import.started' | 'import.progress' | 'import.finished' }> {
  return frame.type === 'import.started' || frame.type === 'import.progress' || frame.type === 'import.finished';
}

/** The furthest of two count snapshots of one running import (pure). */
function furthest(current: ImportProgress, incoming: ImportProgress): ImportProgress {
  return incoming.rows_done >= current.rows_done && incoming.created >= current.created ? incoming : current;
}

export function createImportsStore(deps: ImportsDeps = {}) {
  const now = deps.now ?? Date.now;
  const keepFinishedMs = deps.keepFinishedMs ?? 15_000;
  const staleMs = deps.staleMs ?? 60_000;

  /** In the order this panel heard of them. */
  const runs = signal<ImportRun[]>([]);
  /** Imports a dialog of this tab follows itself (the banner leaves them out). */
  const claimed = signal<ReadonlySet<string>>(new Set());
  const finished = new Set<string>();

  const running = computed(() => runs.value.filter((r) => r.state === 'running'));

  function applyEvent(frame: EventFrame): boolean {
    if (!isImportEvent(frame)) return false;
    const data = frame.data;
    const id = data.import_id;
    const t = now();
    const idx = runs.value.findIndex((r) => r.import_id === id);
    const current = idx >= 0 ? runs.value[idx]! : undefined;
    let next: ImportRun;
    if (frame.type === 'import.finished') {
      if (current?.state === 'finished') return false;
      finished.add(id);
      next = { ...data, actor: frame.actor, state: 'finished', seenAt: current?.seenAt ?? t, updatedAt: t };
    } else {
      if (finished.has(id)) return false; // late: it is over
      const counts = current ? furthest(current, data) : data;
      if (current && counts === current) return false;
      next = { ...counts, actor: frame.actor ?? current?.actor ?? null, state: 'running', seenAt: current?.seenAt ?? t, updatedAt: t };
    }
    const list = runs.value.slice();
    if (idx >= 0) list[idx] = next;
    else list.push(next);
    runs.value = list;
    return true;
  }

  function get(id: string): ImportRun | undefined {
    return runs.value.find((r) => r.import_id === id);
  }

  /**
   * The newest import by `actorId` this panel heard of at or after `since` (local ms) that no
   * dialog follows yet: the one a dialog that just sent its file is waiting for.
   */
  function newestUnclaimedBy(actorId: string, since: number): ImportRun | undefined {
    const taken = claimed.value;
    for (let i = runs.value.length - 1; i >= 0; i--) {
      const r = runs.value[i]!;
      if (r.actor?.id === actorId && r.seenAt >= since && !taken.has(r.import_id)) return r;
    }
    return undefined;
  }

  function claim(id: string): void {
    if (claimed.value.has(id)) return;
    claimed.value = new Set([...claimed.value, id]);
  }

  function unclaim(id: string): void {
    if (!claimed.value.has(id)) return;
    const next = new Set(claimed.value);
    next.delete(id);
    claimed.value = next;
  }

  /** Drops finished imports shown long enough and running ones not heard of for too long. */
  function sweep(): void {
    const t = now();
    const keep = runs.value.filter((r) => (r.state === 'finished' ? t - r.updatedAt < keepFinishedMs : t - r.updatedAt < staleMs));
    if (keep.length !== runs.value.length) runs.value = keep;
  }

  return { runs, running, claimed, applyEvent, get, newestUnclaimedBy, claim, unclaim, sweep };
}

export type ImportsStore = ReturnType<typeof createImportsStore>;
