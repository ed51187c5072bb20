import { afterEach, describe, expect, it, vi } from 'vitest';
import { CHROMIUM_VARIABLE, launchChromium } from './browser.ts';

describe('Function: launchChromium', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('starts the Chromium the npm package ships, whatever browser PATH holds', async () => {
    // Prepare
    vi.stubEnv(CHROMIUM_VARIABLE, '');
    vi.stubEnv('PATH', '/nonexistent');

    // Act
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.setContent('<p data-testid="said">rendered</p>');

      // Assess
      expect(await page.getByTestId('said').textContent()).toBe('rendered');
    } finally {
      await browser.close();
    }
  });

  it('fails naming the variable when SLUICE_CHROMIUM names no file', async () => {
    // Prepare
    vi.stubEnv(CHROMIUM_VARIABLE, '/nonexistent/chromium');

    // Act and Assess
    await expect(launchChromium()).rejects.toThrow('SLUICE_CHROMIUM=/nonexistent/chromium: no such browser executable');
  });

  it('fails naming the browser when it does not start, rather than going on without one', async () => {
    // Prepare: an executable that exits at once, as a browser missing a library does
    vi.stubEnv(CHROMIUM_VARIABLE, '/bin/false');

    // Act and Assess
    await expect(launchChromium({ timeout: 30_000 })).rejects.toThrow(
      /^Chromium did not start \(SLUICE_CHROMIUM, \/bin\/false\): /,
    );
  });
});
