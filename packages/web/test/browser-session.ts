/**
 * What a browser test of the dashboard needs before its first page: the app built into a folder
 * of its own (BORG_WEB_DIR, so two browser test files never race one build), and Debian's
 * Chromium through playwright-core with a page that records console errors.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
/** Screenshots (gitignored). */
export const SCREENSHOTS = fileURLToPath(new URL('../test-output/', import.meta.url));

const WEB_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'];

/** Builds the dashboard from the current source for this test process; `remove` deletes the build. */
export async function buildDashboard(name: string): Promise<{ remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `borg-web-${name}-`));
  await build({
    root: WEB_ROOT,
    configFile: `${WEB_ROOT}vite.config.ts`,
    logLevel: 'warn',
    build: { outDir: dir, emptyOutDir: true },
  });
  process.env.BORG_WEB_DIR = dir;
  await mkdir(SCREENSHOTS, { recursive: true });
  return {
    remove: async () => {
      delete process.env.BORG_WEB_DIR;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Chromium and one 1280 × 900 page whose console errors and uncaught exceptions are collected. */
export async function openBrowser(): Promise<{ browser: Browser; page: Page; consoleErrors: string[] }> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Below a test's own time limit, so a wait that never ends says which one it was.
  page.setDefaultTimeout(15_000);
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  return { browser, page, consoleErrors };
}
