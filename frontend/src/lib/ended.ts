// What a person is told when leaf stops taking their token. The one home for these words:
// a socket's close code says why (4501 revoked, 4502 expired), an HTTP 401 does not.

import type { TokenEnd } from './protocol';

/** `unknown`: an HTTP 401, which does not say whether the token expired or was revoked. */
export type Why = TokenEnd | 'unknown';

/** On a screen opened from a viewer link: only the TD can help. */
export const LINK_ENDED: Record<Why, string> = {
	revoked: 'This link was revoked. Ask the Tournament Director for a new one.',
	expired: 'This link has expired. Ask the Tournament Director for a new one.',
	unknown: 'This link has expired or was revoked. Ask the Tournament Director for a new one.'
};

/** On the sign-in form, after leaf signed the TD out. */
export const SESSION_ENDED: Record<Why, string> = {
	revoked: 'Your session ended: your account was removed.',
	expired: 'Your session expired; sign in again.',
	unknown: 'Your session ended. Sign in again.'
};
