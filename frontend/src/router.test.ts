import { afterEach, describe, expect, test } from 'vitest';
import { navigate, path } from './router';

describe('navigate', () => {
  const pops: string[] = [];
  const onPop = () => pops.push(location.pathname + location.search);

  afterEach(() => {
    window.removeEventListener('popstate', onPop);
    pops.length = 0;
  });

  test('another page: a history entry and the path signal, no popstate', () => {
    history.replaceState(null, '', '/users');
    window.addEventListener('popstate', onPop);
    const before = history.length;
    navigate('/files');
    expect(location.pathname).toBe('/files');
    expect(path.value).toBe('/files');
    expect(history.length).toBe(before + 1);
    expect(pops).toEqual([]);
  });

  test('the same page with another query: the page is told (popstate), as after Back', () => {
    history.replaceState(null, '', '/activity?type=user.updated');
    window.addEventListener('popstate', onPop);
    navigate('/activity');
    expect(location.search).toBe('');
    expect(pops).toEqual(['/activity']);
  });

  test('the very same URL: nothing happens', () => {
    history.replaceState(null, '', '/activity?type=user.updated');
    window.addEventListener('popstate', onPop);
    const before = history.length;
    navigate('/activity?type=user.updated');
    expect(history.length).toBe(before);
    expect(pops).toEqual([]);
  });
});
