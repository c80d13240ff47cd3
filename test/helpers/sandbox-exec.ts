/**
 * `sh -c` in a sandbox through the HTTP exec API, as e2e tests use it: `exec` returns the
 * result after checking the request succeeded, `ok` also checks the exit code and returns stdout.
 */
import { expect } from 'vitest';
import type { TestDaemon } from './daemon.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  exit_code: number;
}

export interface SandboxShell {
  exec(name: string, script: string): Promise<ExecResult>;
  ok(name: string, script: string): Promise<string>;
}

/** The shell helpers for `d()`'s sandboxes (a getter: the daemon is started in beforeAll). */
export function sandboxShell(d: () => TestDaemon): SandboxShell {
  const exec = async (name: string, script: string): Promise<ExecResult> => {
    const r = await d().request({ method: 'POST', path: `/v1/sandboxes/${name}/exec`, body: { command: ['sh', '-c', script] } });
    expect(r.status, r.text()).toBe(200);
    return r.json<ExecResult>();
  };
  const ok = async (name: string, script: string): Promise<string> => {
    const r = await exec(name, script);
    expect(r.exit_code, `${script}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  return { exec, ok };
}
