import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The embedded database (PGlite) is one process's: a running server holds `tollgate.lock` in the
 * data directory (`{"pid", "port"}`). A lock whose process is gone is stale and taken over.
 */
export interface DataDirLock {
  pid: number;
  port: number | null;
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: DataDirLock,
  ) {
    super(
      `the embedded database in ${dir} is in use by a running Tollgate (pid ${holder.pid}${holder.port ? `, port ${holder.port}` : ''}); stop it first, or use its API or dashboard${holder.port ? ` at http://127.0.0.1:${holder.port}` : ''}`,
    );
  }
}

export const lockFile = (dataDir: string) => join(dataDir, 'tollgate.lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live process holding the data directory, if any (a stale lock answers undefined). */
export function lockHolder(dataDir: string): DataDirLock | undefined {
  let text: string;
  try {
    text = readFileSync(lockFile(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const held = JSON.parse(text) as DataDirLock;
    if (Number.isInteger(held.pid) && held.pid > 0 && held.pid !== process.pid && alive(held.pid)) return held;
  } catch {
    /* unreadable: a crash mid-write; stale */
  }
  return undefined;
}

/** Throws DataDirLockedError when another live process holds the data directory. */
export function assertUnlocked(dataDir: string): void {
  const holder = lockHolder(dataDir);
  if (holder) throw new DataDirLockedError(dataDir, holder);
}

/** Takes the lock for this process (replacing a stale one); returns the function that releases it. */
export function acquireLock(dataDir: string, port: number | null): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = lockFile(dataDir);
  const mine = JSON.stringify({ pid: process.pid, port });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, mine, { flag: 'wx' });
      return () => {
        try {
          if (readFileSync(file, 'utf8') === mine) rmSync(file);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      assertUnlocked(dataDir);
      rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  assertUnlocked(dataDir);
  throw new DataDirLockedError(dataDir, { pid: 0, port: null });
}
