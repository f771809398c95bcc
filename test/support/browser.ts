import { existsSync, mkdirSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { describe } from 'vitest';

/** Debian's Chromium (`apt-get install -y chromium`), or the browser CHROMIUM_PATH names. */
export const BROWSER_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/**
 * Whether the browser tests can run here. Without Chromium they are reported as skipped (the global setup
 * says how to install it); under CI the global setup refuses to run without it, so CI always runs them.
 */
export const HAS_BROWSER = existsSync(BROWSER_PATH);
/** `describe` for tests that drive Chromium: skipped, visibly, on a machine without it. */
export const describeBrowser = describe.skipIf(!HAS_BROWSER);

export const SCREENSHOT_DIR = 'test-results/screenshots';

/** Debian's Chromium, headless, with no background networking (this machine has no internet). */
export async function launchBrowser(): Promise<Browser> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return chromium.launch({
    executablePath: BROWSER_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}
