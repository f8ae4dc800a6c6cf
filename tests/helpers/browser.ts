import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { ROOT } from './process';

/** Debian's chromium (scripts/setup-deps.sh installs it); playwright-core never downloads a browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** Where screenshots go for a person to look at: `.tmp/screenshots/<test file>/`. */
export function screenshotDir(testFile: string): string {
  const dir = join(ROOT, '.tmp', 'screenshots', testFile.replace(/^.*\//, '').replace(/\.test\.ts$/, ''));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** One headless chromium for a test file (launching one costs a second or two: share it). */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root in a container chromium needs --no-sandbox; /dev/shm is often tiny there.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

/** A fresh context (its own cookies) and page, failing the test on any page error. */
export async function newPage(
  browser: Browser,
  baseURL: string,
): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  return { context, page, errors };
}

/** Logs in through the console's /login form; resolves once redirected to the overview. */
export async function logIn(page: Page, name: string, password: string): Promise<void> {
  await page.goto('/login');
  await page.fill('input[name="name"]', name);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.click('button[type="submit"]')]);
}

/**
 * Logs the page's context in by posting the /login form's fields (the session cookie lands in
 * the context), then opens the overview.
 */
export async function logInByPost(page: Page, name: string, password: string): Promise<void> {
  const r = await page.context().request.post('/login', { form: { name, password, next: '/' }, maxRedirects: 0 });
  if (r.status() !== 302) throw new Error(`POST /login answered ${r.status()}: ${await r.text()}`);
  await page.goto('/');
}
