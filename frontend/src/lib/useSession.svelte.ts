// The TD session as reactive state shared by the console's pages.

import { ApiError } from './api';
import * as stored from './session';

export const td = $state<{ session: stored.Session | null }>({ session: stored.load() });

export function signIn(session: stored.Session): void {
	stored.save(session);
	td.session = session;
}

export function signOut(): void {
	stored.clear();
	td.session = null;
}

/** A 401 means the token expired or the TD was removed: back to the sign-in form. */
export function onApiError(e: unknown): string {
	if (e instanceof ApiError && e.status === 401) {
		signOut();
		return 'Your session ended. Sign in again.';
	}
	return e instanceof Error ? e.message : String(e);
}
