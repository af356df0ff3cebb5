// Notices: errors (role="alert") and confirmations (role="status"), dismissed after a while.
import { signal } from '@preact/signals-core';

export interface Toast {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

export const toasts = signal<Toast[]>([]);
let nextId = 1;

export function dismiss(id: number): void {
  toasts.value = toasts.value.filter((t) => t.id !== id);
}

function push(kind: Toast['kind'], text: string, ms: number): void {
  const id = nextId++;
  toasts.value = [...toasts.value.slice(-4), { id, kind, text }];
  setTimeout(() => dismiss(id), ms);
}

export function notifyError(e: unknown): void {
  const text = e instanceof Error ? e.message : String(e);
  push('error', text.charAt(0).toUpperCase() + text.slice(1), 8000);
}

export function notify(text: string): void {
  push('info', text, 4000);
}
