// Pending invitations (admins): the list from `GET /api/invitations`, kept up to date by
// `user.invited` (added), `user.invitation_accepted` and `user.invitation_revoked` (removed).
// Events are applied once each (by seq); an invitation that left the list never comes back,
// even when a list read that started before it left answers afterwards.
import { batch, signal } from '@preact/signals-core';
import type { Invitation, InvitationList } from '../api/types';
import type { EventFrame } from '../realtime/events';
import { AppliedSeqs } from '../lib/seqs';
import { errorMessage } from '../i18n/errors';

export interface InvitationsDeps {
  listInvitations(): Promise<InvitationList>;
}

/** Newest first (ids are UUIDv7, so the id breaks ties in creation order). */
function byNewest(a: Invitation, b: Invitation): number {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * The pending list after one event (pure). `gone` holds the ids that left the list (accepted or
 * revoked) and is updated in place. Returns the same array when nothing changed.
 */
export function applyInvitationEvent(items: Invitation[], frame: EventFrame, gone: Set<string>): Invitation[] {
  switch (frame.type) {
    case 'user.invited': {
      const inv = frame.data;
      if (gone.has(inv.id) || items.some((i) => i.id === inv.id)) return items;
      if (inv.status && inv.status !== 'pending') return items;
      const row: Invitation = {
        id: inv.id,
        email: inv.email,
        role: inv.role,
        invited_by: inv.invited_by,
        created_at: inv.created_at,
        expires_at: inv.expires_at,
        status: 'pending',
        user_id: null,
      };
      return [...items, row].sort(byNewest);
    }
    case 'user.invitation_accepted':
    case 'user.invitation_revoked': {
      const id = frame.data.id;
      gone.add(id);
      return items.some((i) => i.id === id) ? items.filter((i) => i.id !== id) : items;
    }
    default:
      return items;
  }
}

/** A fresh page merged with what happened while it was being read (pure). */
export function mergeInvitationPage(page: Invitation[], live: Invitation[], gone: Set<string>, now = Date.now()): Invitation[] {
  const byId = new Map<string, Invitation>();
  for (const i of page) if (i.status === 'pending') byId.set(i.id, i);
  // Added live while the request was in flight: the page may predate them.
  for (const i of live) if (!byId.has(i.id)) byId.set(i.id, i);
  return [...byId.values()].filter((i) => !gone.has(i.id) && Date.parse(i.expires_at) > now).sort(byNewest);
}

export function createInvitationsStore(deps: InvitationsDeps) {
  const items = signal<Invitation[]>([]);
  const loading = signal(false);
  const loaded = signal(false);
  const error = signal<string | null>(null);
  const gone = new Set<string>();
  const applied = new AppliedSeqs();
  let generation = 0;
  /** Added by events since the current read started. */
  let liveSinceLoad: Invitation[] = [];

  async function load(): Promise<void> {
    const gen = ++generation;
    liveSinceLoad = [];
    loading.value = true;
    try {
      const page = await deps.listInvitations();
      if (gen !== generation) return;
      batch(() => {
        items.value = mergeInvitationPage(page.items, liveSinceLoad, gone);
        error.value = null;
        loaded.value = true;
      });
    } catch (e) {
      if (gen === generation) error.value = errorMessage(e);
    } finally {
      if (gen === generation) loading.value = false;
    }
  }

  function applyEvent(frame: EventFrame): boolean {
    if (frame.type !== 'user.invited' && frame.type !== 'user.invitation_accepted' && frame.type !== 'user.invitation_revoked') {
      return false;
    }
    if (typeof frame.seq === 'number' && !applied.add(frame.seq)) return false;
    const next = applyInvitationEvent(items.value, frame, gone);
    if (frame.type === 'user.invited') {
      const added = next.find((i) => i.id === frame.data.id);
      if (added) liveSinceLoad.push(added);
    }
    if (next !== items.value) items.value = next;
    return true;
  }

  /** Our own write's answer, before (or after) its event. */
  function added(inv: Invitation): void {
    applyEvent({ type: 'user.invited', seq: null, ts: inv.created_at, actor: null, data: { ...inv, invited_by: inv.invited_by ?? null } });
  }

  function removed(id: string): void {
    applyEvent({ type: 'user.invitation_revoked', seq: null, ts: new Date().toISOString(), actor: null, data: { id } });
  }

  return { items, loading, loaded, error, load, applyEvent, added, removed, resync: load };
}

export type InvitationsStore = ReturnType<typeof createInvitationsStore>;
