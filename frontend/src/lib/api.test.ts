import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiPatient, ApiError } from './api';

function answer(status: number, body: unknown, headers: Record<string, string> = {}): Response {
	return new Response(JSON.stringify(body), { status, headers });
}

const busy = () =>
	answer(503, { error: { code: 'busy', message: 'too many reads' } }, { 'Retry-After': '2' });

afterEach(() => vi.unstubAllGlobals());

describe('apiPatient', () => {
	it('retries a busy answer after its Retry-After, then returns the answer', async () => {
		const fetch = vi
			.fn()
			.mockResolvedValueOnce(busy())
			.mockResolvedValueOnce(busy())
			.mockResolvedValueOnce(answer(200, { events: [] }));
		vi.stubGlobal('fetch', fetch);
		const waits: number[] = [];
		const result = await apiPatient('/x', {}, async (ms) => {
			waits.push(ms);
		});
		expect(result).toEqual({ events: [] });
		expect(fetch).toHaveBeenCalledTimes(3);
		expect(waits).toHaveLength(2);
		for (const ms of waits) expect(ms).toBeGreaterThanOrEqual(2000);
	});

	it('gives up after a few busy answers, and never retries other failures', async () => {
		vi.stubGlobal('fetch', vi.fn().mockImplementation(async () => busy()));
		await expect(apiPatient('/x', {}, async () => {})).rejects.toSatisfy(
			(e) => e instanceof ApiError && e.busy && e.retryAfterS === 2
		);
		const fetch = vi
			.fn()
			.mockResolvedValue(answer(403, { error: { code: 'forbidden', message: 'no' } }));
		vi.stubGlobal('fetch', fetch);
		await expect(apiPatient('/x', {}, async () => {})).rejects.toBeInstanceOf(ApiError);
		expect(fetch).toHaveBeenCalledTimes(1);
	});
});
