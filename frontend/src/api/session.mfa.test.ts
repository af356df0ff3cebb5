// Two-step sign-in (password, then a TOTP or recovery code) and signing in with tokens from an
// accepted invitation.
import { describe, expect, it } from 'vitest';
import { user } from '../test/fixtures';
import { ApiError } from './http';
import { inTabLock, type StorageLike } from './locks';
import { createSession, isMfaChallenge, REFRESH_KEY } from './session';

function memoryStorage(): StorageLike & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v), removeItem: (k) => void data.delete(k) };
}

const tokens = (n: number) => ({
  access_token: `access-${n}`,
  token_type: 'Bearer',
  expires_in: 900,
  refresh_token: `refresh-${n}`,
  user: user({ username: 'carol', role: 'admin' }),
});

function fakeFetch(routes: Record<string, (body: Record<string, string>) => [number, unknown]>) {
  const calls: { url: string; body: Record<string, string> }[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const body = JSON.parse(String(init?.body ?? '{}')) as Record<string, string>;
    calls.push({ url, body });
    const [status, json] = routes[url]?.(body) ?? [404, { error: { code: 'not_found', message: url } }];
    return {
      status,
      ok: status >= 200 && status < 300,
      headers: new Headers(),
      text: async () => (json === undefined ? '' : JSON.stringify(json)),
    } as unknown as Response;
  };
  return { fetch: fetch as typeof globalThis.fetch, calls };
}

describe('two-step sign-in', () => {
  it('a challenge leaves the session signed out until a code is accepted', async () => {
    const storage = memoryStorage();
    const { fetch, calls } = fakeFetch({
      '/api/auth/login': () => [200, { mfa_required: true, challenge: 'ch-1', expires_in: 300 }],
      '/api/auth/mfa': (b) =>
        b.code === '123456' ? [200, tokens(1)] : [401, { error: { code: 'invalid_mfa_code', message: 'invalid code' } }],
    });
    const s = createSession({ storage, lock: inTabLock(), channel: null, watchStorage: null, fetch });
    await s.restore();
    const outcome = await s.login('carol', 'pw');
    expect(outcome).toEqual({ mfa: { mfa_required: true, challenge: 'ch-1', expires_in: 300 } });
    expect(s.authState.value).toBe('out');
    expect(storage.data.has(REFRESH_KEY)).toBe(false);

    const wrong = await s.completeMfa('ch-1', '000000').catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ApiError);
    expect((wrong as ApiError).code).toBe('invalid_mfa_code');
    expect(s.authState.value).toBe('out');

    await s.completeMfa('ch-1', '123456');
    expect(s.authState.value).toBe('in');
    expect(s.currentUser.value?.username).toBe('carol');
    expect(storage.data.get(REFRESH_KEY)).toBe('refresh-1');
    expect(await s.getAccessToken()).toBe('access-1');
    expect(calls.map((c) => c.url)).toEqual(['/api/auth/login', '/api/auth/mfa', '/api/auth/mfa']);
    expect(calls[2]!.body).toEqual({ challenge: 'ch-1', code: '123456' });
    s.dispose();
  });

  it('without a second factor, login signs in at once', async () => {
    const { fetch } = fakeFetch({ '/api/auth/login': () => [200, tokens(2)] });
    const s = createSession({ storage: memoryStorage(), lock: inTabLock(), channel: null, watchStorage: null, fetch });
    expect(await s.login('carol', 'pw')).toEqual({ mfa: null });
    expect(s.authState.value).toBe('in');
    s.dispose();
  });

  it('adoptTokens signs in with tokens from elsewhere (an accepted invitation)', async () => {
    const storage = memoryStorage();
    const s = createSession({ storage, lock: inTabLock(), channel: null, watchStorage: null, fetch: fakeFetch({}).fetch });
    await s.restore();
    await s.adoptTokens(tokens(3));
    expect(s.authState.value).toBe('in');
    expect(storage.data.get(REFRESH_KEY)).toBe('refresh-3');
    s.dispose();
  });

  it('isMfaChallenge tells a challenge from tokens', () => {
    expect(isMfaChallenge({ mfa_required: true, challenge: 'x', expires_in: 1 })).toBe(true);
    expect(isMfaChallenge(tokens(1))).toBe(false);
    expect(isMfaChallenge(null)).toBe(false);
    expect(isMfaChallenge({ mfa_required: false, challenge: 'x' })).toBe(false);
  });
});
