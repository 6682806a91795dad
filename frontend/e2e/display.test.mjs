// A TD and a display, in a real browser against a real leaf: the whole story.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { launch } from './browser.mjs';
import { Leaf, TD } from './leaf.mjs';

const RESULTS = resolve(import.meta.dirname, '..', 'test-results');

describe('the TD console and the display', () => {
	/** @type {Leaf} */
	let leaf;
	let browser;
	let context;
	let consolePage;
	let display;
	let tournament;
	let viewerUrl;

	const shot = (page, name) => page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage: true });

	before(async () => {
		mkdirSync(RESULTS, { recursive: true });
		leaf = new Leaf();
		await leaf.init();
		browser = await launch();
		context = browser.context;
		consolePage = await context.newPage();
	});

	after(async () => {
		await browser?.close();
		await leaf?.cleanup();
	});

	it('a TD signs in and creates a tournament', async () => {
		await consolePage.goto(leaf.base);
		await consolePage.getByLabel('Name').fill(TD.name);
		await consolePage.getByLabel('PIN').fill('wrong-pin');
		await consolePage.getByRole('button', { name: 'Sign in' }).click();
		await consolePage.getByText('That name and PIN do not match.').waitFor();
		await consolePage.getByLabel('PIN').fill(TD.pin);
		await consolePage.getByRole('button', { name: 'Sign in' }).click();
		await consolePage.getByRole('heading', { name: 'Tournaments' }).waitFor();
		await consolePage.getByLabel('New tournament').fill('Saturday Deepstack');
		// Keyboard only: Enter submits.
		await consolePage.getByLabel('New tournament').press('Enter');
		await consolePage.waitForURL(/\/tournaments\/[0-9a-f-]{36}$/);
		tournament = consolePage.url().split('/').pop();
		await consolePage.getByRole('heading', { name: 'Saturday Deepstack' }).waitFor();
		await consolePage.getByText('Live', { exact: true }).waitFor();
	});

	it('creates a viewer link with a QR code big enough to scan across a table', async () => {
		await consolePage.getByRole('button', { name: 'Create viewer link' }).click();
		const qr = consolePage.getByAltText('QR code of the viewer link');
		await qr.waitFor();
		const box = await qr.boundingBox();
		assert.ok(box && box.width >= 300, `QR code is ${box?.width} px wide`);
		viewerUrl = await consolePage.getByTestId('viewer-url').getAttribute('href');
		assert.match(viewerUrl, new RegExp(`/display/${tournament}\\?token=`));
	});

	it('the display shows a posted event within a second', async () => {
		display = await context.newPage();
		await display.goto(viewerUrl);
		await display.getByTestId('tournament-name').getByText('Saturday Deepstack').waitFor();
		await display.getByText('Live', { exact: true }).waitFor();

		await consolePage.getByLabel('Type').fill('level_up');
		await consolePage.getByLabel('Data (JSON)').fill('{"level": 2, "blinds": "100/200"}');
		// Both clocks in the browser: the submit in one page, the text appearing in the other,
		// so the test tool's own overhead is not counted.
		await consolePage.evaluate(() => {
			document.querySelector('#post-title + form')?.addEventListener('submit', () => {
				localStorage.setItem('e2e.postedAt', String(Date.now()));
			});
		});
		const seen = display.evaluate(
			(text) =>
				new Promise((ok) => {
					const check = () => {
						if (document.body.innerText.includes(text)) {
							observer.disconnect();
							ok(Date.now());
						}
					};
					const observer = new MutationObserver(check);
					observer.observe(document.body, { subtree: true, childList: true, characterData: true });
					check();
				}),
			'Blinds: 100/200'
		);
		await consolePage.getByRole('button', { name: 'Post event' }).click();
		const seenAt = await seen;
		const postedAt = Number(await consolePage.evaluate(() => localStorage.getItem('e2e.postedAt')));
		const took = seenAt - postedAt;
		assert.ok(postedAt > 0 && took < 1_000, `the display took ${took} ms`);
		await display.getByTestId('state').getByText('Blinds: 100/200').waitFor();
		await consolePage.getByText('Posted as event 1.').waitFor();
		await consolePage.getByTestId('event-log').getByText('Blinds: 100/200').waitFor();
		await shot(consolePage, 'console');
		await shot(display, 'display-tv-1080p');
	});

	it('after a leaf restart the display reconnects by itself and shows what it missed', async () => {
		await display.evaluate(() => {
			window.__notReloaded = true;
		});
		await leaf.stop();
		await display.getByText(/Reconnecting/).waitFor({ timeout: 10_000 });
		await leaf.start();
		const token = await leaf.login();
		for (const [level, blinds] of [
			[3, '150/300'],
			[4, '200/400']
		]) {
			await leaf.api(`/tournaments/${tournament}/events`, {
				method: 'POST',
				token,
				body: { type: 'level_up', data: { level, blinds } }
			});
		}
		await leaf.api(`/tournaments/${tournament}/events`, {
			method: 'POST',
			token,
			body: { type: 'break', data: { minutes: 15 } }
		});
		await display.getByText('Live', { exact: true }).waitFor({ timeout: 40_000 });
		const recent = display.getByTestId('recent');
		await recent.getByText('Blinds: 150/300').waitFor({ timeout: 5_000 });
		await recent.getByText('Blinds: 200/400').waitFor();
		await display.getByTestId('state').getByText('Minutes: 15').waitFor();
		assert.equal(await display.evaluate(() => window.__notReloaded), true, 'the page reloaded');
	});

	it('shows a venue announcement on top of the display', async () => {
		// The console's socket may still be in its back-off after the restart; the form is not.
		await consolePage.reload();
		await consolePage.getByLabel('Message for every screen').fill('Dinner break in 10 minutes');
		await consolePage.getByRole('button', { name: 'Announce' }).click();
		await consolePage.getByText(/Sent to \d+ screen/).waitFor();
		await display.getByTestId('announcement').getByText('Dinner break in 10 minutes').waitFor();
		await shot(display, 'display-announcement');
	});

	it('works on a phone', async () => {
		const phone = await context.newPage();
		await phone.setViewportSize({ width: 390, height: 844 });
		await phone.goto(viewerUrl);
		await phone.getByTestId('state').getByText('Blinds: 200/400').waitFor();
		// Switched on mid-tournament, it still lists what just happened.
		await phone.getByTestId('recent').getByText('Minutes: 15').waitFor();
		await phone.getByTestId('recent').getByText('Blinds: 100/200').waitFor();
		const overflow = await phone.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
		assert.equal(overflow, false, 'the display scrolls sideways on a phone');
		await shot(phone, 'display-phone');
		await phone.close();
	});

	it('a viewer link for one tournament cannot open another', async () => {
		const token = await leaf.login();
		const other = await leaf.api('/tournaments', { method: 'POST', token, body: { name: 'High Roller' } });
		await leaf.api(`/tournaments/${other.id}/events`, {
			method: 'POST',
			token,
			body: { type: 'level_up', data: { secret: 'high-roller-only' } }
		});
		const viewerToken = new URL(viewerUrl).searchParams.get('token');
		const page = await context.newPage();
		await page.goto(`${leaf.base}/display/${other.id}?token=${viewerToken}`);
		await page.getByTestId('refused').getByText('This link is for another tournament.').waitFor();
		assert.equal(await page.getByText('high-roller-only').count(), 0);
		assert.equal(await page.getByText('High Roller').count(), 0);
		await shot(page, 'display-refused');
		await page.close();
	});
});
