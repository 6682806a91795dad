// Debian's chromium, driven by playwright-core (its own browser download does not work here).

import { chromium } from 'playwright-core';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export async function launch() {
	if (!existsSync(CHROMIUM)) {
		throw new Error(`no browser at ${CHROMIUM}: run ci/chromium.sh (apt-get install chromium), or set CHROMIUM`);
	}
	// A fresh profile each run; playwright passes it as --user-data-dir.
	const profile = mkdtempSync(join(tmpdir(), 'leaf-e2e-chromium-'));
	return chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		viewport: { width: 1920, height: 1080 },
		args: [
			'--no-sandbox',
			'--disable-gpu',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
			'--no-first-run'
		]
	});
}
