import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorMessage, exitCode, main } from '../src/cli.ts';
import { TEST_ENCRYPTION_KEY } from './support/harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-lock-'));
const port = 20000 + Math.floor(Math.random() * 20000);
const env = {
  ...process.env,
  DATABASE_URL: '',
  TOLLGATE_DATA_DIR: dir,
  TOLLGATE_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
  TOLLGATE_DEMO: 'false',
  TOLLGATE_RUNNER_INTERVAL_MS: '0',
  LOG_LEVEL: 'silent',
  PORT: String(port),
  HOST: '127.0.0.1',
};
let server: ChildProcess | undefined;
const saved = { ...process.env };

beforeAll(() => {
  // The in-process commands below read the same environment as the server.
  Object.assign(process.env, env);
  delete process.env.DATABASE_URL;
});
afterAll(() => {
  server?.kill('SIGKILL');
  process.env = saved;
  rmSync(dir, { recursive: true, force: true });
});

async function fails(...argv: string[]): Promise<{ code: number; message: string }> {
  try {
    await main(argv);
  } catch (err) {
    return { code: exitCode(err), message: errorMessage(err) };
  }
  throw new Error(`expected ${argv.join(' ')} to fail`);
}

describe('issue 11 item 13: the embedded data directory is locked by the running server', () => {
  it('a running server holds the lock; commands stop with one line and exit 4; the lock goes with the server; a stale lock is taken over', async () => {
    const { DATABASE_URL: _drop, ...childEnv } = env;
    server = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      server!.stdout!.on('data', (d) => {
        out += String(d);
        if (out.includes('Tollgate is running')) resolve();
      });
      server!.stderr!.on('data', (d) => {
        out += String(d);
      });
      server!.on('exit', (code) => reject(new Error(`server exited (${code}): ${out}`)));
    });
    const lock = JSON.parse(readFileSync(join(dir, 'tollgate.lock'), 'utf8'));
    expect(lock).toEqual({ pid: server.pid, port });

    for (const argv of [
      ['keys', 'create', '--project', 'shop'],
      ['projects', 'create', 'Shop'],
      ['projects', 'list'],
      ['keys', 'list', '--project', 'shop'],
      ['keys', 'revoke', 'key_1', '--project', 'shop'],
      ['migrate'],
      ['start'],
    ]) {
      const r = await fails(...argv);
      expect(r.code, argv.join(' ')).toBe(4);
      expect(r.message).toBe(
        `the embedded database in ${dir} is in use by a running Tollgate (pid ${server.pid}, port ${port}); stop it first, or use its API or dashboard at http://127.0.0.1:${port}`,
      );
    }
    // The server is still serving.
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);

    const exited = new Promise((resolve) => server!.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
    server = undefined;
    expect(existsSync(join(dir, 'tollgate.lock'))).toBe(false);

    // A lock left by a process that is gone (a crash) is stale: commands go ahead.
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    writeFileSync(join(dir, 'tollgate.lock'), JSON.stringify({ pid: Number(gone), port }));
    expect(await main(['migrate'])).toBe(0);
  }, 120_000);
});
