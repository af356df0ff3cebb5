// Notices: errors (role="alert") and confirmations (role="status"), dismissed after a while.
// Texts are in the language of the moment they were shown.
import { signal } from '@preact/signals-core';
import { errorMessage } from '../i18n/errors';

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
  // A server error in the current language (by its code), anything else by its message.
  const text = errorMessage(e);
  push('error', text.charAt(0).toUpperCase() + text.slice(1), 8000);
}

export function notify(text: string): void {
  push('info', text, 4000);
}
