// Server errors by code (translated, the server's English message as the fallback), field
// problems, and activity events in both languages.
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../api/http';
import { describe as describeEvent, describeText } from '../stores/activity';
import { ADMIN, ev } from '../test/fixtures';
import { errorMessage, failure, fieldName, problemText } from './errors';
import { setLocale } from './index';

const apiError = (status: number, code: string, message: string, fields?: Record<string, string>, retryAfter: number | null = null) =>
  new ApiError(status, { code, message, ...(fields ? { fields } : {}) }, { error: { code, message, fields } }, retryAfter);

afterEach(() => setLocale('en'));

describe('errorMessage', () => {
  it('a known code: the catalogue message in either language', () => {
    const busy = apiError(409, 'backup_running', 'a backup is running; wait for it to finish');
    expect(errorMessage(busy)).toBe('A backup is already running');
    setLocale('zh-CN');
    expect(errorMessage(busy)).toBe('已有备份正在进行');
    expect(errorMessage(apiError(409, 'email_taken', 'that email address is already in use'))).toBe('该电子邮箱地址已被使用。');
    expect(errorMessage(apiError(409, 'last_admin', 'this is the last enabled admin'))).toBe('这是最后一个启用的管理员：请先提升或启用另一位管理员。');
  });

  it('a code whose server message says more: English keeps the server words, Chinese the translation', () => {
    const gone = apiError(404, 'not_found', 'file not found');
    expect(errorMessage(gone)).toBe('File not found');
    setLocale('zh-CN');
    expect(errorMessage(gone)).toBe('未找到：它可能已被删除。');
  });

  it('an unknown code: the server message (capitalised), in any language', () => {
    const odd = apiError(409, 'brand_new_code', 'something new happened');
    expect(errorMessage(odd)).toBe('Something new happened');
    setLocale('zh-CN');
    expect(errorMessage(odd)).toBe('Something new happened');
  });

  it('rate limits with the seconds, network failures, bare statuses', () => {
    expect(errorMessage(apiError(429, 'rate_limited', 'too many', undefined, 1))).toBe('Too many attempts. Try again in 1 second.');
    expect(errorMessage(apiError(429, 'rate_limited', 'too many', undefined, 30))).toBe('Too many attempts. Try again in 30 seconds.');
    expect(errorMessage(new ApiError(0, { message: 'Cannot reach the server' }, undefined, null))).toBe(
      'Cannot reach the server. Check your connection and try again.',
    );
    expect(errorMessage(new ApiError(502, {}, undefined, null))).toBe('Request failed (502)');
    setLocale('zh-CN');
    expect(errorMessage(apiError(429, 'rate_limited', 'too many', undefined, 30))).toBe('尝试次数过多。请在 30 秒后重试。');
    expect(errorMessage(new ApiError(0, { message: 'Cannot reach the server' }, undefined, null))).toBe('无法连接服务器。请检查网络连接后重试。');
    expect(errorMessage(new ApiError(502, {}, undefined, null))).toBe('请求失败（502）');
  });

  it('anything else: its message', () => {
    expect(errorMessage(new Error('boom'))).toBe('boom');
    expect(errorMessage('plain')).toBe('plain');
  });
});

describe('field problems', () => {
  it('recognised by the server wording, with its numbers; unknown ones as they are', () => {
    setLocale('zh-CN');
    expect(problemText('must be 3 to 32 characters')).toBe('长度须为 3 到 32 个字符');
    expect(problemText('must be at least 8 characters')).toBe('至少需要 8 个字符');
    expect(problemText('must be a valid email address')).toBe('必须是有效的电子邮箱地址');
    expect(problemText("username 'bob' is already taken")).toBe('用户名“bob”已被占用');
    expect(problemText('must be 1–30')).toBe('必须在 1–30 之间');
    expect(problemText('a reason nobody wrote down')).toBe('a reason nobody wrote down');
    setLocale('en');
    expect(problemText('must be at least 8 characters')).toBe('must be at least 8 characters');
    expect(problemText('must be 1–64 characters')).toBe('must be 1 to 64 characters');
  });

  it('failure(): 422 with fields → "correct the highlighted fields" and each field translated', () => {
    const invalid = apiError(422, 'validation_failed', 'validation failed', { password: 'must be at least 8 characters', username: 'must be 3 to 32 characters' });
    expect(failure(invalid)).toEqual({
      message: 'Please correct the highlighted fields.',
      fields: { password: 'must be at least 8 characters', username: 'must be 3 to 32 characters' },
    });
    setLocale('zh-CN');
    expect(failure(invalid)).toEqual({
      message: '请修改标出的字段。',
      fields: { password: '至少需要 8 个字符', username: '长度须为 3 到 32 个字符' },
    });
    expect(fieldName('display_name')).toBe('显示名称');
    expect(fieldName('some_field')).toBe('some field');
  });
});

describe('activity events', () => {
  const nameOf = (id: string) => (id === 'id-bob' ? 'bob' : undefined);
  const text = (f: Parameters<typeof describeEvent>[0]) => describeText(describeEvent(f, nameOf));
  const inv = { id: 'i1', email: 'new@example.test', role: 'viewer', invited_by: ADMIN.id, created_at: '', expires_at: '', status: 'pending' };

  it('in Chinese word order, with roles and actors in Chinese', () => {
    setLocale('zh-CN');
    expect(text(ev('mfa.disabled', 1, { id: 'id-bob', username: 'bob', reason: 'reset' }, ADMIN))).toBe('admin 重置了 bob 的两步验证');
    expect(text(ev('user.invited', 2, inv, ADMIN))).toBe('admin 邀请 new@example.test 成为查看者');
    expect(text(ev('session.revoked', 3, { id: 's', user_id: 'id-bob', reason: 'ended' }, ADMIN))).toBe('admin 结束了 bob 的一个会话');
    expect(text(ev('user.role_changed', 4, { id: 'id-bob', username: 'bob', from: 'viewer', to: 'admin' }, ADMIN))).toBe(
      'admin 将 bob 的角色从查看者改为管理员',
    );
    expect(text(ev('backup.failed', 5, { id: 'b1', error: 'disk full' } as never, null))).toBe('系统 未能完成备份 b1——disk full');
    expect(text(ev('auth.login', 6, { user: { id: 'id-bob', username: 'bob' }, ip: '10.0.0.7' }))).toBe('bob 从 10.0.0.7 登录了');
  });

  it('the same events in English', () => {
    expect(text(ev('mfa.disabled', 1, { id: 'id-bob', username: 'bob', reason: 'reset' }, ADMIN))).toBe('admin reset the second factor of bob');
    expect(text(ev('user.invited', 2, inv, ADMIN))).toBe('admin invited new@example.test as viewer');
    expect(text(ev('backup.failed', 5, { id: 'b1', error: 'disk full' } as never, null))).toBe('system could not take backup b1 — disk full');
  });
});
