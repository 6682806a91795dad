// The TD session as reactive state shared by the console's pages.

import { ApiError } from './api';
import { SESSION_ENDED, type Why } from './ended';
import * as stored from './session';

export const td = $state<{
	session: stored.Session | null;
	/** Why leaf signed the TD out, shown on the sign-in form; null after a sign-out by hand. */
	notice: string | null;
}>({ session: stored.load(), notice: null });

export function signIn(session: stored.Session): void {
	stored.save(session);
	td.session = session;
	td.notice = null;
}

export function signOut(): void {
	stored.clear();
	td.session = null;
	td.notice = null;
}

/** leaf no longer takes the TD's token: back to the sign-in form, saying why. */
export function endSession(why: Why): void {
	signOut();
	td.notice = SESSION_ENDED[why];
}

/** A 401 means the token expired or the TD was removed: back to the sign-in form. */
export function onApiError(e: unknown): string {
	if (e instanceof ApiError && e.status === 401) {
		endSession('unknown');
		return SESSION_ENDED.unknown;
	}
	return e instanceof Error ? e.message : String(e);
}
