// Small preferences remembered in this browser (localStorage), read defensively: storage may be
// unavailable (private modes) or hold anything.
export const PER_PAGE_CHOICES = [20, 50, 100, 200] as const;
export type ListName = 'users' | 'files';

const key = (list: ListName) => `switchboard.per_page.${list}`;

export function readPerPage(list: ListName, fallback = 20): number {
  try {
    const v = Number(localStorage.getItem(key(list)));
    return (PER_PAGE_CHOICES as readonly number[]).includes(v) ? v : fallback;
  } catch {
    return fallback;
  }
}

export function writePerPage(list: ListName, n: number): void {
  try {
    localStorage.setItem(key(list), String(n));
  } catch {
    /* not remembered, still used */
  }
}
