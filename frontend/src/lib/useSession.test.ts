import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from './api';
import { SESSION_ENDED } from './ended';
import { endSession, onApiError, signIn, signOut, td } from './useSession.svelte';

const KEY = 'felt.td';
const session = { name: 'Ana', token: 'jwt', expires_at: Date.now() / 1000 + 3600 };

beforeEach(() => {
	const items = new Map<string, string>();
	vi.stubGlobal('localStorage', {
		getItem: (k: string) => items.get(k) ?? null,
		setItem: (k: string, v: string) => void items.set(k, v),
		removeItem: (k: string) => void items.delete(k)
	});
	signIn(session);
});
afterEach(() => {
	vi.unstubAllGlobals();
});

describe('the TD session', () => {
	it.each(['revoked', 'expired'] as const)(
		'a %s token signs the TD out and says why on the sign-in form',
		(why) => {
			endSession(why);
			expect(td.session).toBeNull();
			expect(localStorage.getItem(KEY)).toBeNull();
			expect(td.notice).toBe(SESSION_ENDED[why]);
		}
	);

	it('a 401 signs out the same way', () => {
		expect(onApiError(new ApiError(401, 'unauthorized'))).toBe(SESSION_ENDED.unknown);
		expect(td.session).toBeNull();
		expect(localStorage.getItem(KEY)).toBeNull();
		expect(td.notice).toBe(SESSION_ENDED.unknown);
	});

	it('signing out by hand, or in again, leaves no notice', () => {
		endSession('expired');
		signIn(session);
		expect(td.notice).toBeNull();
		expect(localStorage.getItem(KEY)).not.toBeNull();
		signOut();
		expect(td.notice).toBeNull();
	});
});
