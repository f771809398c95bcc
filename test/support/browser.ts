import { mkdirSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const SCREENSHOT_DIR = 'test-results/screenshots';

/** Debian's Chromium, headless, with no background networking (this machine has no internet). */
export async function launchBrowser(): Promise<Browser> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}
