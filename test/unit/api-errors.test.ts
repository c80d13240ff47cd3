import { describe, expect, it } from 'vitest';
import { errorResponse, fsErrorResponse, guestStatus, STATUS_BY_CODE } from '../../daemon/api/errors.js';
import {
  AgentError,
  BadRequestError,
  ConflictError,
  GuestError,
  HobError,
  NotFoundError,
  PoolFullError,
  TimeoutError,
  VmmError,
  type ErrorCode,
} from '../../daemon/errors.js';

describe('error mapping', () => {
  it('maps each HobError to its status with {error: code, message}', () => {
    const cases: Array<[HobError, number]> = [
      [new BadRequestError('bad'), 400],
      [new NotFoundError('missing'), 404],
      [new ConflictError('busy'), 409],
      [new PoolFullError('full'), 507],
      [new VmmError('died'), 502],
      [new AgentError('gone'), 503],
      [new TimeoutError('slow'), 504],
      [new HobError('payload_too_large', 'big'), 413],
      [new HobError('rate_limited', 'calm down'), 429],
      [new HobError('unauthorized', 'who'), 401],
      [new HobError('forbidden', 'no'), 403],
    ];
    for (const [err, status] of cases) {
      const r = errorResponse(err);
      expect(r.status).toBe(status);
      expect(r.body).toEqual({ error: err.code, message: err.message });
      expect(r.unexpected).toBe(false);
    }
  });

  it('has a status for every error code', () => {
    const codes: ErrorCode[] = ['bad_request', 'unauthorized', 'forbidden', 'not_found', 'conflict', 'payload_too_large', 'rate_limited', 'pool_full', 'vmm_failed', 'agent_failed', 'guest_error', 'timeout', 'internal'];
    for (const code of codes) expect(STATUS_BY_CODE[code]).toBeGreaterThanOrEqual(400);
  });

  it('turns anything else into a bare 500 that reveals nothing', () => {
    const err = new Error('secret path /var/lib/hob/x at line 3');
    const r = errorResponse(err);
    expect(r.status).toBe(500);
    expect(r.body).toEqual({ error: 'internal', message: 'internal error' });
    expect(JSON.stringify(r.body)).not.toContain('secret');
    expect(r.unexpected).toBe(true);
    expect(errorResponse('a string').status).toBe(500);
  });

  it('maps guest errno codes', () => {
    expect(guestStatus('ENOENT')).toBe(404);
    expect(guestStatus('EACCES')).toBe(403);
    expect(guestStatus('EISDIR')).toBe(400);
    expect(guestStatus('ENOTDIR')).toBe(400);
    expect(guestStatus('EEXIST')).toBe(409);
    expect(guestStatus('ENOSPC')).toBe(507);
    expect(guestStatus('EWEIRD')).toBe(500);
  });

  it('gives file errors the Sprites shape the SDKs parse (error text, errno code, path)', () => {
    const r = fsErrorResponse(new GuestError('ENOENT', 'fs.read /nope: no such file or directory'), '/nope');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: 'fs.read /nope: no such file or directory', code: 'ENOENT', path: '/nope', message: 'fs.read /nope: no such file or directory' });
    expect(fsErrorResponse(new NotFoundError('no sandbox x'), '/a').body).toEqual({ error: 'not_found', message: 'no sandbox x' });
  });
});
