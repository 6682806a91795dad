// Debian's chromium, driven by playwright-core (its own browser download does not work here).

import { chromium } from 'playwright-core';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export async function launch() {
	if (!existsSync(CHROMIUM)) {
		throw new Error(`no browser at ${CHROMIUM}: run ci/chromium.sh (apt-get install chromium), or set CHROMIUM`);
	}
	// A fresh profile each run; playwright passes it as --user-data-dir.
	const profile = mkdtempSync(join(tmpdir(), 'leaf-e2e-chromium-'));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		viewport: { width: 1920, height: 1080 },
		args: [
			'--no-sandbox',
			'--disable-gpu',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
			'--no-first-run',
			// Containers often have a small /dev/shm.
			'--disable-dev-shm-usage'
		]
	});
	return {
		context,
		/** Closes the browser, then removes its profile. */
		async close() {
			await context.close();
			try {
				rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
			} catch {
				// A leftover profile in /tmp is not worth failing a run for.
			}
		}
	};
}
